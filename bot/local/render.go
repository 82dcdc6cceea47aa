package local

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/warroom/warroom/bot"
	"github.com/warroom/warroom/store"
	"github.com/warroom/warroom/triage/model"
)

//go:embed assets/templates/*.html assets/static/*
var assetFS embed.FS

type assets struct {
	tmpl   *template.Template
	static fs.FS
}

func loadAssets() (*assets, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"lower": strings.ToLower,
	}).ParseFS(assetFS, "assets/templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web chat templates: %w", err)
	}
	st, err := fs.Sub(assetFS, "assets/static")
	if err != nil {
		return nil, fmt.Errorf("web chat static files: %w", err)
	}
	return &assets{tmpl: t, static: st}, nil
}

// roomItem is one line of the room list.
type roomItem struct {
	Name, Number, Title, Severity, Status, StatusText string
	Alerts                                            int
	Live, Drill                                       bool
	sev                                               model.Severity
	id                                                int64
}

// msgView is one message as a page shows it.
type msgView struct {
	ID      int64
	Room    string
	Msg     *bot.Message
	Thread  bool
	At      string
	Edited  bool
	CSRF    string
	Private bool
}

// ImagePath is the message's picture, when it is one of the web chat's own paths;
// anything else is left out.
func (v msgView) ImagePath() string {
	if v.Msg.Image == nil || !bot.ChatPath(v.Msg.Image.Path) {
		return ""
	}
	return v.Msg.Image.Path
}

func statusText(s model.Status) string {
	switch s {
	case model.StatusFalsePositive:
		return "false positive"
	}
	return string(s)
}

// maxListedRooms bounds the room list to the newest rooms.
const maxListedRooms = 300

// roomItems lists the rooms: live incidents first, by severity, newest first.
func (c *Chat) roomItems(ctx context.Context) ([]roomItem, error) {
	rooms, err := c.st.LocalRooms(ctx)
	if err != nil {
		return nil, err
	}
	if len(rooms) > maxListedRooms {
		rooms = rooms[len(rooms)-maxListedRooms:]
	}
	items := make([]roomItem, 0, len(rooms))
	for _, r := range rooms {
		c.rememberRoom(r.ID, r.Name)
		it := roomItem{Name: r.Name, Title: r.Topic, id: r.ID, Live: r.ArchivedAt == nil}
		if r.IncidentID > 0 {
			inc, err := c.st.Incident(ctx, r.IncidentID)
			if err == nil {
				it.Number, it.Title, it.Alerts = inc.Number, bot.CleanText(inc.Title), inc.AlertCount
				it.sev, it.Severity, it.Status, it.StatusText = inc.Severity, inc.Severity.String(), string(inc.Status), statusText(inc.Status)
				it.Live = it.Live && inc.Status.Live()
				it.Drill = inc.Kind == model.KindDrill
			}
		}
		items = append(items, it)
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Live != b.Live {
			return a.Live
		}
		if a.sev != b.sev {
			return a.sev > b.sev
		}
		return a.id > b.id
	})
	return items, nil
}

// roomsFragment renders the room list.
func (c *Chat) roomsFragment(ctx context.Context, current string) (string, error) {
	items, err := c.roomItems(ctx)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := c.assets.tmpl.ExecuteTemplate(&b, "rooms", map[string]any{"Rooms": items, "Current": current}); err != nil {
		return "", err
	}
	return b.String(), nil
}

func (c *Chat) view(m *store.LocalMessage, room, csrf string) (msgView, error) {
	var b body
	if err := json.Unmarshal(m.Body, &b); err != nil || b.Message == nil {
		return msgView{}, fmt.Errorf("message %d: unreadable body: %v", m.ID, err)
	}
	return msgView{ID: m.ID, Room: room, Msg: b.Message, Thread: b.Thread != "", CSRF: csrf,
		At: m.CreatedAt.UTC().Format("15:04:05"), Edited: m.Rev > 1}, nil
}

// renderMessage renders one message.
func (c *Chat) renderMessage(v msgView) (string, error) {
	var b bytes.Buffer
	if err := c.assets.tmpl.ExecuteTemplate(&b, "message", v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// messageFragment renders a message for every page: the CSRF token is a placeholder
// the hub replaces per page.
func (c *Chat) messageFragment(ctx context.Context, m *store.LocalMessage) (string, string, error) {
	room, err := c.roomName(ctx, m.RoomID)
	if err != nil {
		return "", "", err
	}
	v, err := c.view(m, room, csrfPlaceholder)
	if err != nil {
		return "", "", err
	}
	html, err := c.renderMessage(v)
	return room, html, err
}

var roomNames sync.Map // *Chat+id → name; room names never change

type roomKey struct {
	c  *Chat
	id int64
}

func (c *Chat) rememberRoom(id int64, name string) { roomNames.Store(roomKey{c, id}, name) }

func (c *Chat) roomName(ctx context.Context, id int64) (string, error) {
	if n, ok := roomNames.Load(roomKey{c, id}); ok {
		return n.(string), nil
	}
	rooms, err := c.st.LocalRooms(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range rooms {
		c.rememberRoom(r.ID, r.Name)
		if r.ID == id {
			return r.Name, nil
		}
	}
	return "", fmt.Errorf("web chat room %d: %w", id, store.ErrNotFound)
}

// messageViews renders every message of a room for a page.
func (c *Chat) messageViews(ctx context.Context, r *store.LocalRoom, csrf string) ([]template.HTML, error) {
	msgs, err := c.st.LocalMessages(ctx, r.ID)
	if err != nil {
		return nil, err
	}
	out := make([]template.HTML, 0, len(msgs))
	for _, m := range msgs {
		v, err := c.view(m, r.Name, csrf)
		if err != nil {
			c.log.Warn("web chat: skip a message", "err", err)
			continue
		}
		h, err := c.renderMessage(v)
		if err != nil {
			return nil, err
		}
		out = append(out, template.HTML(h)) // rendered by html/template above
	}
	return out, nil
}

// RenderMessageHTML renders a message as the web chat shows it, for tests and
// previews. room is the room's name; buttons post to it.
func RenderMessageHTML(room string, id int64, at time.Time, m *bot.Message) (string, error) {
	a, err := loadAssets()
	if err != nil {
		return "", err
	}
	c := &Chat{assets: a}
	return c.renderMessage(msgView{ID: id, Room: room, Msg: m, CSRF: csrfPlaceholder, At: at.UTC().Format("15:04:05")})
}
