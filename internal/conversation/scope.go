package conversation

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// scopeExpr is the condition keeping the conversations an agent sees (DESIGN §3: a user sees
// only the conversations of the departments and segments they belong to, unless their role
// sees all): the agent's own, those routed to one of the agent's departments, and those
// without a department whose contact's serving segments (queue_segments) name the agent or
// one of its departments or are none, the rule by which the queue lets an agent serve a
// conversation (the same sets as Next: user_departments and user_segments, migration
// 00028). acct and user are the statement's placeholders for the account and the agent.
func scopeExpr(acct, user string) string {
	return fmt.Sprintf(`(v.agent_id = %[2]s
	OR v.department_id = ANY((SELECT user_departments(%[1]s, %[2]s))::uuid[])
	OR (v.department_id IS NULL AND (cardinality(v.queue_segments) = 0 OR v.queue_segments && (SELECT user_segments(%[1]s, %[2]s)))))`, acct, user)
}

// Visible reports whether the agent userID sees the conversation id (see scopeExpr); false
// for one that does not exist or is another account's.
func (s *Service) Visible(ctx context.Context, accountID, userID, id uuid.UUID) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM conversations v WHERE v.account_id = $1 AND v.id = $3 AND `+scopeExpr("$1", "$2")+`)`,
		accountID, userID, id).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check whether the agent sees conversation %s: %w", id, err)
	}
	return ok, nil
}
