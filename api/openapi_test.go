package api_test

import (
	"os"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

// TestOpenAPIUpToDate fails when the committed openapi.yaml differs from what the code
// generates: run `make generate` and commit the result.
func TestOpenAPIUpToDate(t *testing.T) {
	t.Parallel()
	want, err := api.OpenAPI().YAML()
	require.NoError(t, err)
	got, err := os.ReadFile("../openapi.yaml")
	require.NoError(t, err)
	require.True(t, string(want) == string(got), "openapi.yaml is stale: run `make generate` and commit it")
}

// TestOpenAPIConventions checks rules every operation follows: an explicit kebab-case
// operation id, a summary, a tag, and problem responses.
func TestOpenAPIConventions(t *testing.T) {
	t.Parallel()
	oapi := api.OpenAPI()
	for path, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			require.Regexp(t, `^[a-z]+(-[a-z0-9]+)*$`, op.OperationID, path)
			require.NotEmpty(t, op.Summary, op.OperationID)
			require.NotEmpty(t, op.Tags, op.OperationID)
			if len(op.Security) > 0 {
				require.Contains(t, op.Responses, "401", op.OperationID)
				require.Contains(t, op.Responses, "403", op.OperationID)
			}
		}
	}
}
