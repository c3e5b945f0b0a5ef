package auth

import (
	"fmt"
	"slices"
)

// Permission is one thing a caller may do. Operations name the permission they need; roles
// grant sets of them, users may hold extra ones, and API keys hold the scopes given at creation.
type Permission string

// The permissions. The first group are API key scopes too; the second are extra permissions a
// user may be given beyond the role (DESIGN §3).
const (
	ContactsRead  Permission = "contacts:read"
	ContactsWrite Permission = "contacts:write"
	ConsentsWrite Permission = "consents:write"
	APIKeysManage Permission = "api_keys:manage"
	// SettingsManage changes account-wide settings (consent keywords and replies).
	SettingsManage Permission = "settings:manage"
	// ContactsErase anonymises a contact for good (LGPD erasure).
	ContactsErase Permission = "contacts:erase"
	// EventsRead reads the event log and its live stream (what a user sees is filtered by
	// role and departments).
	EventsRead Permission = "events:read"
	// WebhooksManage manages outbound webhook subscriptions and their delivery log.
	WebhooksManage Permission = "webhooks:manage"
	// TemplatesWrite creates, changes, submits and deletes message templates: admins and
	// supervisors keep the library; everyone who sends reads it with contacts:read.
	TemplatesWrite Permission = "templates:write"

	ContactNotes Permission = "contact_notes"
	SupportCode  Permission = "support_code"
	ConsentRead  Permission = "consent_read"
)

// Role is a user's job in the account.
type Role string

// The roles.
const (
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleAgent      Role = "agent"
	RoleCompliance Role = "compliance"
)

var rolePermissions = map[Role][]Permission{
	RoleAdmin: {ContactsRead, ContactsWrite, ConsentsWrite, APIKeysManage, SettingsManage, ContactsErase,
		ContactNotes, SupportCode, ConsentRead, EventsRead, WebhooksManage, TemplatesWrite},
	RoleSupervisor: {ContactsRead, ContactsWrite, ConsentsWrite, ContactNotes, EventsRead, TemplatesWrite},
	RoleAgent:      {ContactsRead, ContactsWrite, ConsentsWrite, EventsRead},
	RoleCompliance: {ContactsRead, ConsentsWrite, ContactsErase, ConsentRead, EventsRead},
}

// ExtraPermissions are the permissions that may be granted to a user beyond the role.
var ExtraPermissions = []Permission{ContactNotes, SupportCode, ConsentRead}

// APIKeyScopes are the permissions an integrator API key may hold.
var APIKeyScopes = []Permission{ContactsRead, ContactsWrite, ConsentsWrite, EventsRead, WebhooksManage}

// ParseRole checks that s names a role.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if _, ok := rolePermissions[r]; !ok {
		return "", fmt.Errorf("unknown role %q (admin, supervisor, agent or compliance)", s)
	}
	return r, nil
}

// Grants is the permission set of a role plus extra permissions.
func Grants(role Role, extra []string) []Permission {
	out := slices.Clone(rolePermissions[role])
	for _, e := range extra {
		p := Permission(e)
		if slices.Contains(ExtraPermissions, p) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
