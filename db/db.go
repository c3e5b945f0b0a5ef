// Package db holds the schema. Its migrations are embedded in the binary so that `conversa
// migrate up`, `conversa dev` and every test database apply exactly the same files.
package db

import "embed"

// Migrations are the goose migrations of the product schema, applied in file-name order.
//
//go:embed migrations/*.sql
var Migrations embed.FS
