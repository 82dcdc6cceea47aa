package playbooks

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"

	"github.com/warroom/warroom/triage/model"
)

// The CEL view of an incident and its alerts. The Go type names become the CEL
// type names (playbooks.incident...), which show in CEL's error messages.
type (
	entity struct {
		Kind  string `cel:"kind"`
		Value string `cel:"value"`
		Role  string `cel:"role"`
	}
	incident struct {
		ID           int64     `cel:"id"`
		Number       string    `cel:"number"`
		Title        string    `cel:"title"`
		Kind         string    `cel:"kind"`
		Status       string    `cel:"status"`
		Severity     string    `cel:"severity"`
		SeverityRank int64     `cel:"severity_rank"`
		Category     string    `cel:"category"`
		Notifiable   bool      `cel:"notifiable"`
		AlertCount   int64     `cel:"alert_count"`
		Entities     []entity  `cel:"entities"`
		FirstSeen    time.Time `cel:"first_seen"`
		LastSeen     time.Time `cel:"last_seen"`
	}
	alert struct {
		Rule         string            `cel:"rule"`
		Title        string            `cel:"title"`
		Category     string            `cel:"category"`
		Severity     string            `cel:"severity"`
		SeverityRank int64             `cel:"severity_rank"`
		Source       string            `cel:"source"`
		Format       string            `cel:"format"`
		Status       string            `cel:"status"`
		Labels       map[string]string `cel:"labels"`
		Entities     []entity          `cel:"entities"`
		EventTime    time.Time         `cel:"event_time"`
	}
	// selectors holds every selector's targets, so expressions can test and
	// combine them: size(selectors.external_src_ips) > 0.
	selectors struct {
		ExternalSrcIPs   []string `cel:"external_src_ips"`
		ExternalDstIPs   []string `cel:"external_dst_ips"`
		InternalSrcIPs   []string `cel:"internal_src_ips"`
		InternalDstIPs   []string `cel:"internal_dst_ips"`
		InternalSrcHosts []string `cel:"internal_src_hosts"`
		InternalDstHosts []string `cel:"internal_dst_hosts"`
		C2DstIPs         []string `cel:"c2_dst_ips"`
		C2SrcHosts       []string `cel:"c2_src_hosts"`
		Domains          []string `cel:"domains"`
		Devices          []string `cel:"devices"`
		Interfaces       []string `cel:"interfaces"`
	}
)

// Limits on expressions, checked at compile time.
const (
	maxExprChars = 8192
	maxListRange = 10_000
)

// engine compiles and evaluates expressions under one set of options.
type engine struct {
	env            *cel.Env
	internal       []netip.Prefix
	costLimit      uint64
	maxTTL         time.Duration
	maxAutoTargets int
	log            *slog.Logger
}

func newEngine(o Options) (*engine, error) {
	internal := make([]netip.Prefix, len(o.InternalNetworks))
	for i, p := range o.InternalNetworks {
		internal[i] = p.Masked()
	}
	e := &engine{
		internal:       internal,
		costLimit:      o.CostLimit,
		maxTTL:         o.MaxTTL,
		maxAutoTargets: o.MaxAutoTargets,
		log:            o.Logger,
	}
	env, err := cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[incident](), reflect.TypeFor[alert](), reflect.TypeFor[entity](),
			reflect.TypeFor[selectors](), ext.ParseStructTags(true)),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Lists(ext.ListsMaxRangeSize(maxListRange)),
		ext.Bindings(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxExprChars),
		cel.Variable("incident", cel.ObjectType("playbooks.incident")),
		cel.Variable("alerts", cel.ListType(cel.ObjectType("playbooks.alert"))),
		cel.Variable("selectors", cel.ObjectType("playbooks.selectors")),
		cel.Function("is_ip",
			cel.Overload("is_ip_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					_, ok := parseAddr(string(v.(types.String)))
					return types.Bool(ok)
				}))),
		cel.Function("is_internal",
			cel.Overload("is_internal_string", []*cel.Type{cel.StringType}, cel.BoolType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					a, ok := parseAddr(string(v.(types.String)))
					return types.Bool(ok && e.isInternal(a))
				}))),
		cel.Function("in_cidr",
			cel.Overload("in_cidr_string_string", []*cel.Type{cel.StringType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(ip, cidr ref.Val) ref.Val {
					p, err := netip.ParsePrefix(string(cidr.(types.String)))
					if err != nil {
						return types.NewErr("in_cidr: %q is not a CIDR like 192.0.2.0/24", string(cidr.(types.String)))
					}
					a, ok := parseAddr(string(ip.(types.String)))
					return types.Bool(ok && p.Masked().Contains(a))
				}))),
		cel.Function("jitter",
			cel.Overload("jitter_list_timestamp", []*cel.Type{cel.ListType(cel.TimestampType)}, cel.DoubleType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					return types.Double(jitterOf(v.(traits.Lister)))
				}))),
	)
	if err != nil {
		return nil, fmt.Errorf("playbooks: CEL environment: %w", err)
	}
	e.env = env
	return e, nil
}

// parseAddr parses an IP address, unmapping IPv4-in-IPv6 and dropping zones.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (e *engine) isInternal(a netip.Addr) bool {
	for _, p := range e.internal {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// jitterOf is the coefficient of variation (standard deviation / mean) of the
// intervals between the timestamps once sorted: 0 for a perfectly regular beacon.
// Fewer than three timestamps, or all at one instant, give +Inf (not periodic).
func jitterOf(l traits.Lister) float64 {
	var ts []time.Time
	it := l.Iterator()
	for it.HasNext() == types.True {
		if t, ok := it.Next().(types.Timestamp); ok {
			ts = append(ts, t.Time)
		}
	}
	if len(ts) < 3 {
		return math.Inf(1)
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	gaps := make([]float64, len(ts)-1)
	var sum float64
	for i := range gaps {
		gaps[i] = ts[i+1].Sub(ts[i]).Seconds()
		sum += gaps[i]
	}
	mean := sum / float64(len(gaps))
	if mean <= 0 {
		return math.Inf(1)
	}
	var sq float64
	for _, g := range gaps {
		sq += (g - mean) * (g - mean)
	}
	return math.Sqrt(sq/float64(len(gaps))) / mean
}

// exprType is what an expression must evaluate to.
type exprType uint8

const (
	wantBool exprType = iota
	wantStrings
)

// expr is a compiled expression.
type expr struct {
	src  string
	prg  cel.Program
	want exprType
}

// compile type-checks src. The error is CEL's own message.
func (e *engine) compile(src string, want exprType) (*expr, error) {
	ast, iss := e.env.Compile(src)
	if iss.Err() != nil {
		return nil, fmt.Errorf("invalid CEL: %s", iss.Err())
	}
	out := ast.OutputType()
	switch want {
	case wantBool:
		if !out.IsExactType(cel.BoolType) {
			return nil, fmt.Errorf("the expression gives %s; it must give a bool (true or false)", out)
		}
	case wantStrings:
		if !cel.ListType(cel.StringType).IsAssignableType(out) && !out.IsExactType(cel.ListType(cel.DynType)) && !out.IsExactType(cel.DynType) {
			return nil, fmt.Errorf("the expression gives %s; it must give list(string)", out)
		}
	}
	prg, err := e.env.Program(ast, cel.CostLimit(e.costLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, fmt.Errorf("invalid CEL: %w", err)
	}
	return &expr{src: src, prg: prg, want: want}, nil
}

// input is one incident and its alerts, ready for evaluation.
type input struct {
	act interpreter.Activation
	sel map[string][]string
}

// input converts the incident and alerts to their CEL view and computes the selectors.
func (e *engine) input(inc *model.Incident, alerts []*model.Alert) *input {
	ci := &incident{
		ID: inc.ID, Number: inc.Number, Title: inc.Title, Kind: string(inc.Kind), Status: string(inc.Status),
		Severity: inc.Severity.String(), SeverityRank: int64(inc.Severity), Category: string(inc.Category),
		Notifiable: inc.Notifiable, AlertCount: int64(inc.AlertCount), Entities: celEntities(inc.Entities),
		FirstSeen: inc.FirstSeen, LastSeen: inc.LastSeen,
	}
	cas := make([]*alert, 0, len(alerts))
	for _, a := range alerts {
		if a == nil {
			continue
		}
		labels := a.Labels
		if labels == nil {
			labels = map[string]string{}
		}
		cas = append(cas, &alert{
			Rule: a.Rule, Title: a.Title, Category: string(a.Category), Severity: a.Severity.String(),
			SeverityRank: int64(a.Severity), Source: a.Source, Format: a.Format, Status: a.Status,
			Labels: labels, Entities: celEntities(a.Entities), EventTime: a.EventTime,
		})
	}
	sel := e.selectAll(inc, alerts)
	cs := &selectors{}
	for _, s := range selectorTable {
		*s.field(cs) = sel[s.name]
	}
	act, err := interpreter.NewActivation(map[string]any{"incident": ci, "alerts": cas, "selectors": cs})
	if err != nil {
		// NewActivation fails only for a value that is not a map or activation.
		panic(fmt.Sprintf("playbooks: activation: %v", err))
	}
	return &input{act: act, sel: sel}
}

func celEntities(es []model.Entity) []entity {
	out := make([]entity, len(es))
	for i, en := range es {
		out[i] = entity{Kind: string(en.Kind), Value: en.Value, Role: string(en.Role)}
	}
	return out
}

func (x *expr) eval(in *input) (ref.Val, error) {
	v, _, err := x.prg.Eval(in.act)
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (x *expr) evalBool(in *input) (bool, error) {
	v, err := x.eval(in)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("gave %s, not a bool", v.Type().TypeName())
	}
	return bool(b), nil
}

// evalStrings returns the string elements of a list result; other elements are skipped.
func (x *expr) evalStrings(in *input) ([]string, error) {
	v, err := x.eval(in)
	if err != nil {
		return nil, err
	}
	l, ok := v.(traits.Lister)
	if !ok {
		return nil, errors.New("did not give a list")
	}
	var out []string
	it := l.Iterator()
	for it.HasNext() == types.True {
		if s, ok := it.Next().(types.String); ok {
			out = append(out, string(s))
		}
	}
	return out, nil
}
