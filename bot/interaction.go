package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/warroom/warroom/config"
)

// InteractionKind says what the user did.
type InteractionKind string

// Interaction kinds.
const (
	Click   InteractionKind = "click"
	Command InteractionKind = "command"
)

// User is a platform user, as the platform authenticated them.
type User struct {
	// ID is the platform's stable id (a Slack user id, a Discord snowflake, a web chat
	// user name).
	ID string `json:"id"`
	// Name is for display.
	Name string `json:"name"`
	// Groups are the platform's groups or roles the user belongs to (Slack user
	// groups, Discord guild roles).
	Groups []string `json:"groups,omitempty"`
}

// Actor is how a platform user is recorded in timelines, audit entries and approvals:
// "platform:id". It is stable, so the two-person rule compares real identities.
func (u User) Actor(platform string) string { return platform + ":" + u.ID }

// Display is the user's name for messages.
func (u User) Display() string {
	if u.Name != "" {
		return u.Name
	}
	return u.ID
}

// Interaction is a button click or a command from a platform.
type Interaction struct {
	Platform string          `json:"platform"`
	Kind     InteractionKind `json:"kind"`
	// ActionID is the opaque id of the clicked button.
	ActionID string `json:"action_id,omitempty"`
	// Text is the command text, e.g. "block 203.0.113.7 24h".
	Text string `json:"text,omitempty"`
	User User   `json:"user"`
	// Room is where it happened; zero outside a room.
	Room RoomRef `json:"room"`
	// IncidentID is the incident whose room it is; Bot.Interact fills it in.
	IncidentID int64 `json:"incident_id,omitempty"`
	// Message is the message the clicked button is on.
	Message MessageRef `json:"message"`
}

// Reply answers an interaction.
type Reply struct {
	// Text is plain text; it may span lines.
	Text string `json:"text"`
	// Private replies go to the user alone; public ones are posted in the incident's
	// rooms.
	Private bool `json:"private"`
	// Refused: the user was not allowed to do this.
	Refused bool `json:"refused,omitempty"`
	// Changed lists incidents the interaction changed, whose rooms need refreshing.
	Changed []int64 `json:"changed,omitempty"`
}

// Handler turns interactions into changes and replies (package commands).
type Handler interface {
	Handle(ctx context.Context, in Interaction) Reply
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, in Interaction) Reply

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, in Interaction) Reply { return f(ctx, in) }

// RoleBinding gives a platform user, or every member of a platform group, a role.
type RoleBinding struct {
	Platform string
	User     string // a user id
	Group    string // a group or role id, where the platform has them
	Role     config.Role
}

// Roles maps platform users to warroom roles. A user holds the highest role any of
// their bindings gives, or the default role when none applies.
type Roles struct {
	users  map[string]config.Role // platform + "\x00" + user
	groups map[string]config.Role
	def    config.Role
}

// NewRoles builds the mapping. def is the role of users no binding names ("" for
// none: they may do nothing).
func NewRoles(bindings []RoleBinding, def config.Role) (*Roles, error) {
	if def != "" && def.Rank() == 0 {
		return nil, fmt.Errorf("default role %q: want viewer, responder, approver, admin or empty", def)
	}
	r := &Roles{users: map[string]config.Role{}, groups: map[string]config.Role{}, def: def}
	for i, b := range bindings {
		if b.Platform == "" || (b.User == "") == (b.Group == "") {
			return nil, fmt.Errorf("role binding %d: name a platform and exactly one of user or group", i)
		}
		if b.Role.Rank() == 0 {
			return nil, fmt.Errorf("role binding %d: role %q: want viewer, responder, approver or admin", i, b.Role)
		}
		m, k := r.users, b.Platform+"\x00"+b.User
		if b.Group != "" {
			m, k = r.groups, b.Platform+"\x00"+b.Group
		}
		if m[k].Rank() < b.Role.Rank() {
			m[k] = b.Role
		}
	}
	return r, nil
}

// Of returns the role of user u on platform; "" when they have none.
func (r *Roles) Of(platform string, u User) config.Role {
	if r == nil {
		return ""
	}
	best := r.users[platform+"\x00"+u.ID]
	for _, g := range u.Groups {
		if g := r.groups[platform+"\x00"+g]; g.Rank() > best.Rank() {
			best = g
		}
	}
	if best == "" {
		return r.def
	}
	return best
}

// Users lists the users bound on a platform, sorted, for pickers and help texts.
func (r *Roles) Users(platform string) []string {
	var out []string
	for k := range r.users {
		if p, u, _ := strings.Cut(k, "\x00"); p == platform {
			out = append(out, u)
		}
	}
	sortStrings(out)
	return out
}
