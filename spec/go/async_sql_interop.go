// The Go side of spec/async_sql_spec.lua: FluxaORM's async SQL records as its Go services
// write and read them. The record types carry the field order and msgpack tags of FluxaORM's
// flush_async.go (Kafka version); values go through the msgpack library FluxaORM builds
// with (github.com/shamaton/msgpack v1.2.1) and Kafka through franz-go v1.22.3. Written from
// the wire format, not copied from FluxaORM. The spec builds this in a temporary module.
//
//	interop cases N SEED          N random operations (seeded) and the fixed edge cases, each as
//	                              three lines: "L <Lua>" the operation as a Lua user gives it to
//	                              flush_async, "E <Lua>" what fk.decode_async_sql should hand
//	                              over for it, "G <hex>" msgpack.Marshal of FluxaORM's value
//	interop check N SEED          reads fluxakafka's encoding of each of those cases (hex, one a
//	                              line) and prints how many are byte-identical to FluxaORM's
//	                              (map entries in canonical order) and how many decode into
//	                              FluxaORM's types equal to its own value
//	interop produce BROKERS TOPIC N SEED [dead]
//	                              produces the N random cases as FluxaORM's FlushAsync does (key =
//	                              table); with "dead", as FluxaORM's consumer dead-letters them
//	                              (header "error")
//	interop consume BROKERS TOPIC N SEED RECORDS [dead]
//	                              reads RECORDS records from the start of TOPIC and checks each
//	                              against the random case its key names, as the check command
//	                              does; with "dead" it counts those with a header "error"
//	interop partitions N          reads keys (one a line) and prints franz-go's partition for each
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shamaton/msgpack"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ---------------------------------------------------------------- FluxaORM's types ----

// shamaton/msgpack 1.x writes every field (omitempty is not honoured), keyed by the whole tag.
type AsyncSQLParam struct {
	Null bool   `msgpack:"n,omitempty"`
	Type string `msgpack:"t,omitempty"`
	Val  string `msgpack:"v,omitempty"`
}

type AsyncSQLQuery struct {
	Q string          `msgpack:"q"`
	P []AsyncSQLParam `msgpack:"p"`
}

type AsyncEntityEvent struct {
	CacheIndex uint64                   `msgpack:"ci"`
	EntityID   uint64                   `msgpack:"id"`
	FlushType  uint8                    `msgpack:"ft"`
	Changes    map[string]AsyncSQLParam `msgpack:"ch,omitempty"`
}

type AsyncRedisOp struct {
	Pool string   `msgpack:"p"`
	Cmd  string   `msgpack:"c"`
	Args []string `msgpack:"a,omitempty"`
}

type AsyncSQLOperation struct {
	Pool     string             `msgpack:"pool"`
	Queries  []AsyncSQLQuery    `msgpack:"queries"`
	Events   []AsyncEntityEvent `msgpack:"events,omitempty"`
	RedisOps []AsyncRedisOp     `msgpack:"redis,omitempty"`
}

// convertParam turns a Go value into a parameter by FluxaORM's rules: NULL is {n: true} with
// empty type and value; integers in decimal ("i" signed, "u" unsigned); floats as
// strconv.FormatFloat(v, 'g', -1, 64); booleans "1"/"0"; times in UTC as time.RFC3339 (no
// fraction); anything else as fmt's %v text of type "s".
func convertParam(v any) AsyncSQLParam {
	text := func(t, s string) AsyncSQLParam { return AsyncSQLParam{Type: t, Val: s} }
	switch x := v.(type) {
	case nil:
		return AsyncSQLParam{Null: true}
	case string:
		return text("s", x)
	case int, int8, int16, int32, int64: // these types only: time.Duration is %v text
		return text("i", strconv.FormatInt(reflect.ValueOf(x).Int(), 10))
	case uint, uint8, uint16, uint32, uint64:
		return text("u", strconv.FormatUint(reflect.ValueOf(x).Uint(), 10))
	case float32:
		return text("f", strconv.FormatFloat(float64(x), 'g', -1, 64))
	case float64:
		return text("f", strconv.FormatFloat(x, 'g', -1, 64))
	case bool:
		if x {
			return text("b", "1")
		}
		return text("b", "0")
	case time.Time:
		return text("t", x.UTC().Format(time.RFC3339))
	}
	return text("s", fmt.Sprintf("%v", v))
}

// redisArg is the string go-redis sends for a Go value given as a command argument.
func redisArg(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	}
	panic(fmt.Sprintf("no Redis argument: %T", v))
}

// ---------------------------------------------------------------- Lua source ----

// luaStr is a Lua 5.1 string literal of any bytes.
func luaStr(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "\\%03d", c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// The spec's environment for these sources: N = fk.null, I"…" / U"…" int64_t / uint64_t
// cdata, F"bits" the double with those IEEE bits, T(text, seconds) a decoded time.
func luaFloat(f float64) string {
	return fmt.Sprintf("F%q", strconv.FormatUint(math.Float64bits(f), 16))
}

const two53 = 1 << 53

func luaInt(x int64) string {
	if x >= -two53 && x <= two53 {
		return strconv.FormatInt(x, 10)
	}
	return fmt.Sprintf("I%q", strconv.FormatInt(x, 10))
}

func luaUint(x uint64) string {
	if x <= two53 {
		return strconv.FormatUint(x, 10)
	}
	return fmt.Sprintf("U%q", strconv.FormatUint(x, 10))
}

func luaTable(items []string) string { return "{" + strings.Join(items, ",") + "}" }

func luaField(name, value string) string { return "[" + luaStr(name) + "]=" + value }

// ---------------------------------------------------------------- generated cases ----

type testCase struct {
	table  string
	op     AsyncSQLOperation
	lua    string // the operation as a Lua user gives it to flush_async
	expect string // what fk.decode_async_sql hands over for the record
}

type gen struct{ r *rand.Rand }

func (g *gen) pick(n int) int { return g.r.Intn(n) }

var textPieces = []string{"a", "Zoë", "日本", "\"", "\\", "\n", "\x00", "\xff", "'", "`", " ", "é", "x,omitempty", "🙂"}

// text: mostly short, sometimes on msgpack's string length boundaries (31/32, 255/256).
func (g *gen) text() string {
	n := []int{0, 1, 5, 12, 31, 32, 40, 255, 256, 300}[g.pick(10)]
	if g.pick(3) > 0 {
		n = g.pick(20)
	}
	var b strings.Builder
	for b.Len() < n {
		if g.pick(4) == 0 {
			b.WriteString(textPieces[g.pick(len(textPieces))])
		} else {
			b.WriteByte(byte('a' + g.pick(26)))
		}
	}
	return b.String()
}

func (g *gen) int64() int64 {
	edges := []int64{0, 1, -1, 127, 128, -32, -33, -128, -129, 255, 256, 65535, 65536, -32768, -32769,
		math.MaxInt32, math.MinInt32, math.MaxInt32 + 1, math.MinInt32 - 1, two53, -two53, two53 + 1, -two53 - 1,
		math.MaxInt64, math.MinInt64}
	switch g.pick(3) {
	case 0:
		return edges[g.pick(len(edges))]
	case 1:
		return int64(g.r.Uint64())
	}
	return g.r.Int63n(2000000) - 1000000
}

func (g *gen) uint64() uint64 {
	edges := []uint64{0, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, two53, two53 + 1,
		math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64}
	switch g.pick(3) {
	case 0:
		return edges[g.pick(len(edges))]
	case 1:
		return g.r.Uint64()
	}
	return uint64(g.r.Int63n(1000000))
}

// edgeFloats sit where Go's 'g' switches between %e and %f, on float64's limits and where
// shortest digits are hard to find.
var edgeFloats = []float64{0, math.Copysign(0, -1), 0.1, 0.2, 0.3, 1e-5, 1.5e-5, 1e-4, 0.0001234, 0.00009999,
	1, 12345, 123456, 999999, 999999.9, 1e6, 1234567, 1e15, 1e16, 1e17, 1e20, 1e21, 1e22, 1e23,
	math.MaxFloat64, math.SmallestNonzeroFloat64, 2.2250738585072014e-308, 2.2250738585072009e-308,
	two53, two53 + 2, 1 << 63, 1 << 64, 9007199254740993, 5e-324, 1.7976931348623157e308, 4.35, 2.675, 1.005,
	-1.5, -123456.789, 100, 1e100, 1e-100, 123e-7, 5.960464477539063e-08, 0.000001, 0.0000001}

func (g *gen) float64() float64 {
	switch g.pick(5) {
	case 0:
		return edgeFloats[g.pick(len(edgeFloats))]
	case 1:
		for {
			if f := math.Float64frombits(g.r.Uint64()); !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	case 2:
		return float64(g.r.Int63n(1000000) - 500000)
	}
	return (g.r.Float64() - 0.5) * math.Pow(10, float64(g.pick(40)-20))
}

// A time as Go services hold it: mostly recent, sometimes 5-digit or negative years
// (which Go's time.Format writes whole), with or without a fraction of a second.
func (g *gen) time() time.Time {
	year := 1970 + g.pick(130)
	switch g.pick(8) {
	case 0:
		year = g.pick(10000)
	case 1:
		year = 10000 + g.pick(90000)
	case 2:
		year = -g.pick(10000)
	}
	t := time.Date(year, time.Month(1+g.pick(12)), 1+g.pick(31), g.pick(24), g.pick(60), g.pick(60), 0, time.UTC)
	switch g.pick(3) {
	case 0:
		return t.Add(time.Duration(g.pick(1000000)) * time.Microsecond)
	case 1:
		return t.Add(time.Duration(g.pick(1000000000)))
	}
	return t
}

func (g *gen) value() any {
	switch g.pick(13) {
	case 0:
		return nil
	case 1, 2:
		return g.text()
	case 3:
		return g.int64()
	case 4:
		return int32(g.int64())
	case 5:
		return int8(g.pick(256) - 128)
	case 6:
		return g.uint64()
	case 7:
		return uint16(g.pick(65536))
	case 8:
		return g.float64()
	case 9:
		for { // finite: FluxaORM would write "+Inf" or "NaN", which fluxakafka refuses to send to SQL
			if f := math.Float32frombits(g.r.Uint32()); !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
				return f
			}
		}
	case 10:
		return g.pick(2) == 0
	case 11:
		return g.time()
	}
	return time.Duration(g.r.Int63n(1e12)) // fmt's %v: "16m40.5s"
}

// luaParam: a Lua form of v that flush_async turns into convertParam(v). inArray: a hole
// (nil with the array's n) may stand for NULL.
func (g *gen) luaParam(v any, inArray bool) string {
	p := convertParam(v)
	wire := fmt.Sprintf("{t=%s,v=%s}", luaStr(p.Type), luaStr(p.Val))
	var forms []string
	switch {
	case p.Null:
		forms = []string{"N", `{n=true,t="",v=""}`, "{n=true}"}
		if inArray {
			forms = append(forms, "nil")
		}
	case p.Type == "s":
		forms = []string{luaStr(p.Val), wire, fmt.Sprintf("{n=false,t=\"s\",v=%s}", luaStr(p.Val))}
	case p.Type == "b":
		forms = []string{strconv.FormatBool(p.Val == "1"), wire}
	case p.Type == "i":
		n, _ := strconv.ParseInt(p.Val, 10, 64)
		forms = []string{fmt.Sprintf("I%q", p.Val), "fk.sql_int(" + luaStr(p.Val) + ")", wire}
		if n >= -two53 && n <= two53 {
			forms = append(forms, p.Val, "fk.sql_int("+p.Val+")")
		}
	case p.Type == "u":
		n, _ := strconv.ParseUint(p.Val, 10, 64)
		forms = []string{fmt.Sprintf("U%q", p.Val), "fk.sql_uint(" + luaStr(p.Val) + ")", wire}
		if n <= two53 {
			forms = append(forms, "fk.sql_uint("+p.Val+")")
		}
	case p.Type == "f":
		f, _ := strconv.ParseFloat(p.Val, 64)
		forms = []string{"fk.sql_float(" + luaFloat(f) + ")", "fk.sql_float(" + luaStr(p.Val) + ")", wire}
		if f != math.Trunc(f) || math.Abs(f) >= 1<<63 {
			forms = append(forms, luaFloat(f)) // a Lua number with an integer value below 2^63 is an int64
		}
	case p.Type == "t":
		t := v.(time.Time)
		zone := time.FixedZone("", (g.pick(2879)-1439)*60)
		text := luaStr(t.In(zone).Format(time.RFC3339Nano))
		forms = []string{"fk.sql_time(" + text + ")", "{time=" + text + "}", wire}
		if t.Year() >= 1900 && t.Year() < 2100 && t.Nanosecond()%1000 == 0 {
			// unix seconds: a double holds microseconds for these years
			forms = append(forms, "fk.sql_time("+luaFloat(float64(t.Unix())+float64(t.Nanosecond())/1e9)+")")
		}
	}
	return forms[g.pick(len(forms))]
}

// luaExpect: what fk.decode_async_sql hands over for p.
func luaExpect(p AsyncSQLParam) string {
	switch {
	case p.Null:
		return "N"
	case p.Type == "i":
		n, _ := strconv.ParseInt(p.Val, 10, 64)
		return luaInt(n)
	case p.Type == "u":
		n, _ := strconv.ParseUint(p.Val, 10, 64)
		return luaUint(n)
	case p.Type == "f":
		f, _ := strconv.ParseFloat(p.Val, 64)
		return luaFloat(f)
	case p.Type == "b":
		return strconv.FormatBool(p.Val == "1")
	case p.Type == "t":
		return fmt.Sprintf("T(%s,%d)", luaStr(p.Val), parseGoTime(p.Val).Unix())
	}
	return luaStr(p.Val)
}

// parseGoTime reads back what time.Format(time.RFC3339) wrote in UTC, years of any length
// included (time.Parse wants 4 digits).
func parseGoTime(s string) time.Time {
	i := strings.Index(s[1:], "-") + 1
	year, err := strconv.Atoi(s[:i])
	if err != nil {
		panic(s)
	}
	t, err := time.Parse(time.RFC3339, "2000"+s[i:])
	if err != nil {
		panic(s)
	}
	return t.AddDate(year-2000, 0, 0)
}

// params: n Go values as FluxaORM's parameters, with their Lua input and expected forms.
func (g *gen) params(values []any) ([]AsyncSQLParam, string, string) {
	ps := make([]AsyncSQLParam, len(values)) // FluxaORM makes the slice: no parameters is [], not nil
	in := make([]string, len(values))
	ex := make([]string, len(values))
	for i, v := range values {
		ps[i] = convertParam(v)
		in[i] = g.luaParam(v, true)
		ex[i] = luaExpect(ps[i])
	}
	return ps, luaTable(append(in, fmt.Sprintf("n=%d", len(values)))), luaTable(ex)
}

func (g *gen) values(n int) []any {
	vs := make([]any, n)
	for i := range vs {
		vs[i] = g.value()
	}
	return vs
}

type parts struct{ in, ex []string } // the Lua tables' fields, input and expected

func (p *parts) add(in, ex string) {
	p.in = append(p.in, in)
	p.ex = append(p.ex, ex)
}

func (g *gen) query(c *testCase, q *parts, sql string, values []any) {
	ps, in, ex := g.params(values)
	c.op.Queries = append(c.op.Queries, AsyncSQLQuery{Q: sql, P: ps})
	q.add(fmt.Sprintf("{q=%s,p=%s}", luaStr(sql), in), fmt.Sprintf("{q=%s,p=%s}", luaStr(sql), ex))
}

func (g *gen) luaUint64(x uint64) string {
	if g.pick(3) == 0 {
		return luaStr(strconv.FormatUint(x, 10)) // event integers may be decimal strings
	}
	if x > two53 || g.pick(2) == 0 {
		return fmt.Sprintf("U%q", strconv.FormatUint(x, 10))
	}
	return strconv.FormatUint(x, 10)
}

func (g *gen) event(c *testCase, e *parts, changes map[string]any) {
	ev := AsyncEntityEvent{CacheIndex: g.uint64(), EntityID: g.uint64(), FlushType: uint8(1 + g.pick(3))}
	head := fmt.Sprintf("ci=%%s,id=%%s,ft=%d", ev.FlushType)
	in := fmt.Sprintf(head, g.luaUint64(ev.CacheIndex), g.luaUint64(ev.EntityID))
	ex := fmt.Sprintf(head, luaUint(ev.CacheIndex), luaUint(ev.EntityID))
	if len(changes) > 0 {
		ev.Changes = map[string]AsyncSQLParam{}
		var ci, ce []string
		cols := make([]string, 0, len(changes))
		for col := range changes {
			cols = append(cols, col)
		}
		sort.Strings(cols) // Go's map order would make the seeded cases differ from run to run
		for _, col := range cols {
			v := changes[col]
			ev.Changes[col] = convertParam(v)
			ci = append(ci, luaField(col, g.luaParam(v, false)))
			ce = append(ce, luaField(col, luaExpect(ev.Changes[col])))
		}
		in += ",ch=" + luaTable(ci)
		ex += ",ch=" + luaTable(ce)
	} else if g.pick(4) == 0 {
		in += ",ch={}" // no changes: nil on the wire, as FluxaORM's convertChanges makes it
	}
	c.op.Events = append(c.op.Events, ev)
	e.add("{"+in+"}", "{"+ex+"}")
}

func (g *gen) changes() map[string]any {
	cols := map[string]any{}
	for i, n := 0, 1+g.pick(5); i < n; i++ {
		name := []string{"Name", "Age", "Balance", "Born", "Note", "x,omitempty", "Zoë", "ch"}[g.pick(8)]
		cols[name+strconv.Itoa(i)] = g.value()
	}
	return cols
}

var redisCommands = []string{"rpush", "lset", "del", "hset", "hdel", "set"}

// redisArgValue: a Go value, its go-redis string and the Lua value a user gives for it.
func (g *gen) redisArgValue() (string, string) {
	switch g.pick(6) {
	case 0:
		n := g.int64()
		return redisArg(n), []string{luaInt(n), fmt.Sprintf("I%q", strconv.FormatInt(n, 10))}[g.pick(2)]
	case 1:
		n := g.uint64()
		return redisArg(n), fmt.Sprintf("U%q", strconv.FormatUint(n, 10))
	case 2:
		return g.redisFloat()
	case 3:
		b := g.pick(2) == 0
		return redisArg(b), strconv.FormatBool(b)
	}
	s := g.text()
	return s, luaStr(s)
}

func (g *gen) redisFloat() (string, string) {
	f := g.float64()
	if f == math.Trunc(f) && (math.Abs(f) >= two53 || math.Signbit(f)) && math.Abs(f) < 1<<63 {
		// a Lua number with an integer value below 2^63 is written as that integer ("0" for
		// -0, every digit beyond 2^53): here a user gives go-redis's text
		return redisArg(f), luaStr(redisArg(f))
	}
	return redisArg(f), luaFloat(f)
}

func (g *gen) redis(c *testCase, r *parts, args int) { g.redisWith(c, r, args, g.redisArgValue) }

func (g *gen) redisWith(c *testCase, r *parts, args int, arg func() (string, string)) {
	op := AsyncRedisOp{Pool: []string{"default", "cache", g.text()}[g.pick(3)], Cmd: redisCommands[g.pick(len(redisCommands))]}
	op.Args = make([]string, args)
	in := make([]string, args)
	ex := make([]string, args)
	for i := range op.Args {
		op.Args[i], in[i] = arg()
		ex[i] = luaStr(op.Args[i])
	}
	head := fmt.Sprintf("p=%s,c=%s,a=", luaStr(op.Pool), luaStr(op.Cmd))
	c.op.RedisOps = append(c.op.RedisOps, op)
	r.add("{"+head+luaTable(in)+"}", "{"+head+luaTable(ex)+"}")
}

// finish writes the Lua forms of c from its parts.
func (c *testCase) finish(q, e, r *parts) {
	head := fmt.Sprintf("pool=%s,", luaStr(c.op.Pool))
	c.lua = "{" + head + "table=" + luaStr(c.table) + ",queries=" + luaTable(q.in)
	c.expect = "{" + head + "queries=" + luaTable(q.ex)
	if e.in != nil {
		c.lua += ",events=" + luaTable(e.in)
		c.expect += ",events=" + luaTable(e.ex)
	}
	if r.in != nil {
		c.lua += ",redis=" + luaTable(r.in)
		c.expect += ",redis=" + luaTable(r.ex)
	}
	c.lua += "}"
	c.expect += "}"
}

var sqlTexts = []string{"INSERT INTO `users` (`ID`, `Name`) VALUES (?, ?)", "UPDATE `users` SET `Age` = ? WHERE `ID` = ?",
	"DELETE FROM `users` WHERE `ID` = ?", "SELECT 1"}

func (g *gen) randomCase(i int) testCase {
	c := testCase{table: fmt.Sprintf("t%d_%s", i, []string{"users", "orders", "日本"}[g.pick(3)])}
	c.op.Pool = []string{"default", "db2", "p" + g.text()}[g.pick(3)] // pool codes are never empty
	var q, e, r parts
	for k, n := 0, 1+g.pick(3); k < n; k++ {
		sql := sqlTexts[g.pick(len(sqlTexts))]
		if g.pick(4) == 0 {
			sql = g.text()
		}
		g.query(&c, &q, sql, g.values(g.pick(9)))
	}
	if g.pick(2) == 0 {
		e.in, e.ex = []string{}, []string{}
		for k, n := 0, 1+g.pick(3); k < n; k++ {
			var ch map[string]any
			if g.pick(3) > 0 {
				ch = g.changes()
			}
			g.event(&c, &e, ch)
		}
	}
	if g.pick(2) == 0 {
		r.in, r.ex = []string{}, []string{}
		for k, n := 0, 1+g.pick(3); k < n; k++ {
			g.redis(&c, &r, 1+g.pick(5))
		}
	}
	c.finish(&q, &e, &r)
	return c
}

// edgeCases: every float edge and thousands of random doubles (as parameters and Redis
// arguments), time edges, strings on msgpack's 16/32-bit length boundaries, integer limits.
func (g *gen) edgeCases(first int) []testCase {
	var out []testCase
	add := func(name string, build func(c *testCase, q, e, r *parts)) {
		c := testCase{table: fmt.Sprintf("t%d_%s", first+len(out), name)}
		c.op.Pool = "default"
		var q, e, r parts
		build(&c, &q, &e, &r)
		c.finish(&q, &e, &r)
		out = append(out, c)
	}
	floats := func(n int) []any {
		vs := make([]any, n)
		for i := range vs {
			vs[i] = g.float64()
		}
		return vs
	}
	add("float_edges", func(c *testCase, q, e, r *parts) {
		vs := make([]any, len(edgeFloats))
		for i, f := range edgeFloats {
			vs[i] = f
		}
		g.query(c, q, "SELECT ?", vs)
		g.query(c, q, "SELECT ?", floats(3000))
		r.in, r.ex = []string{}, []string{}
		g.redisWith(c, r, 3000, g.redisFloat)
	})
	add("times", func(c *testCase, q, e, r *parts) {
		var vs []any
		for _, y := range []int{0, 1, -1, -9999, 1969, 1970, 2000, 2024, 9999, 10000, 99999} {
			for _, t := range []time.Time{time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(y, 12, 31, 23, 59, 59, 999999999, time.UTC)} {
				vs = append(vs, t)
			}
		}
		vs = append(vs, time.Date(2024, 2, 29, 12, 0, 0, 500000000, time.UTC), time.Unix(-1, 500000000), time.Unix(0, 1))
		g.query(c, q, "SELECT ?", vs)
	})
	add("lengths", func(c *testCase, q, e, r *parts) {
		var vs []any
		for _, n := range []int{31, 32, 255, 256, 65535, 65536} {
			vs = append(vs, strings.Repeat("ë", n/2)+strings.Repeat("x", n%2))
		}
		g.query(c, q, strings.Repeat("S", 70000), vs)
		e.in, e.ex = []string{}, []string{}
		g.event(c, e, map[string]any{strings.Repeat("c", 300): strings.Repeat("v", 70000), "": ""})
		r.in, r.ex = []string{}, []string{}
		g.redis(c, r, 0)
	})
	add("integers", func(c *testCase, q, e, r *parts) {
		g.query(c, q, "SELECT ?", []any{int64(math.MinInt64), int64(math.MaxInt64), uint64(math.MaxUint64), int64(-1),
			int8(-128), uint8(255), int16(-32768), uint32(math.MaxUint32), 0, uint(0), nil})
		g.query(c, q, "SELECT 1", nil)
		e.in, e.ex = []string{}, []string{}
		for _, v := range []uint64{0, math.MaxInt64 + 1, math.MaxUint64} {
			g.event(c, e, map[string]any{"a": nil, "b": v})
			last := &c.op.Events[len(c.op.Events)-1]
			last.CacheIndex, last.EntityID = v, v
			e.in[len(e.in)-1] = fmt.Sprintf("{ci=%s,id=%s,ft=%d,ch={a=N,b=U%q}}", g.luaUint64(v), g.luaUint64(v), last.FlushType, strconv.FormatUint(v, 10))
			e.ex[len(e.ex)-1] = fmt.Sprintf("{ci=%s,id=%s,ft=%d,ch={a=N,b=%s}}", luaUint(v), luaUint(v), last.FlushType, luaUint(v))
		}
	})
	return out
}

func cases(n int, seed int64) []testCase {
	g := &gen{r: rand.New(rand.NewSource(seed))}
	out := make([]testCase, 0, n+8)
	for i := 0; i < n; i++ {
		out = append(out, g.randomCase(i))
	}
	return append(out, g.edgeCases(n)...)
}

// ---------------------------------------------------------------- comparing ----

// canonical rewrites one msgpack value with every map's entries sorted by their encoded key
// bytes (Go writes map[string]… in random order); every other byte stays as it was.
func canonical(b []byte) ([]byte, error) {
	out, rest, err := canonValue(b)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("%d bytes after the value", len(rest))
	}
	return out, err
}

func canonValue(b []byte) ([]byte, []byte, error) {
	if len(b) == 0 {
		return nil, nil, fmt.Errorf("truncated")
	}
	c := b[0]
	take := func(n int) ([]byte, []byte, error) {
		if n > len(b) {
			return nil, nil, fmt.Errorf("truncated")
		}
		return b[:n], b[n:], nil
	}
	size := func(width int) int { // a big-endian length after the type byte
		if 1+width > len(b) {
			return len(b)
		}
		n := 0
		for _, x := range b[1 : 1+width] {
			n = n<<8 | int(x)
		}
		return n
	}
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		return take(1)
	case c >= 0xa0 && c <= 0xbf:
		return take(1 + int(c&0x1f))
	case c == 0xcc || c == 0xd0:
		return take(2)
	case c == 0xcd || c == 0xd1 || c == 0xd4:
		return take(3)
	case c == 0xd5:
		return take(4)
	case c == 0xce || c == 0xd2 || c == 0xca:
		return take(5)
	case c == 0xd6:
		return take(6)
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		return take(9)
	case c == 0xd7:
		return take(10)
	case c == 0xd8:
		return take(18)
	case c == 0xc4 || c == 0xd9:
		return take(2 + size(1))
	case c == 0xc5 || c == 0xda:
		return take(3 + size(2))
	case c == 0xc6 || c == 0xdb:
		return take(5 + size(4))
	case c == 0xc7:
		return take(3 + size(1))
	case c == 0xc8:
		return take(4 + size(2))
	case c == 0xc9:
		return take(6 + size(4))
	case c >= 0x90 && c <= 0x9f:
		return canonItems(b, 1, int(c&0x0f), false)
	case c == 0xdc:
		return canonItems(b, 3, size(2), false)
	case c == 0xdd:
		return canonItems(b, 5, size(4), false)
	case c >= 0x80 && c <= 0x8f:
		return canonItems(b, 1, int(c&0x0f), true)
	case c == 0xde:
		return canonItems(b, 3, size(2), true)
	case c == 0xdf:
		return canonItems(b, 5, size(4), true)
	}
	return nil, nil, fmt.Errorf("type byte %#x is not msgpack", c)
}

// canonItems: the header's bytes, then n items (map entries sorted by key bytes).
func canonItems(b []byte, header, n int, isMap bool) ([]byte, []byte, error) {
	if header > len(b) {
		return nil, nil, fmt.Errorf("truncated")
	}
	rest := b[header:]
	type entry struct{ key, all []byte }
	entries := make([]entry, 0, n)
	for i := 0; i < n; i++ {
		var key, val []byte
		var err error
		if key, rest, err = canonValue(rest); err != nil {
			return nil, nil, err
		}
		all := key
		if isMap {
			if val, rest, err = canonValue(rest); err != nil {
				return nil, nil, err
			}
			all = append(append([]byte{}, key...), val...)
		}
		entries = append(entries, entry{key, all})
	}
	if isMap {
		sort.SliceStable(entries, func(i, j int) bool { return bytes.Compare(entries[i].key, entries[j].key) < 0 })
	}
	out := append([]byte{}, b[:header]...)
	for _, e := range entries {
		out = append(out, e.all...)
	}
	return out, rest, nil
}

// tally counts how the records of fluxakafka compare with FluxaORM's values, and says what
// differs for the first few that do not.
type tally struct {
	identical, equal, total, shown int
}

func (t *tally) compare(label string, c testCase, got []byte) {
	t.total++
	want, err := msgpack.Marshal(c.op)
	if err != nil {
		panic(err)
	}
	cw, err := canonical(want)
	if err != nil {
		panic(err)
	}
	cg, err := canonical(got)
	if err == nil && bytes.Equal(cw, cg) {
		t.identical++
	} else if t.shown < 5 {
		t.shown++
		at := 0
		for at < len(cw) && at < len(cg) && cw[at] == cg[at] {
			at++
		}
		lo := max(at-40, 0)
		fmt.Printf("%s %s: not byte-identical (%v) at byte %d of %d/%d:\n  FluxaORM   %x\n  fluxakafka %x\n", label, c.table,
			err, at, len(cw), len(cg), cw[lo:min(at+40, len(cw))], cg[lo:min(at+40, len(cg))])
	}
	op, err := unmarshal(got)
	if err == nil && reflect.DeepEqual(op, c.op) {
		t.equal++
	} else if t.shown < 5 {
		t.shown++
		fmt.Printf("%s %s: decodes differently (%v):\n  FluxaORM's %+v\n  decoded    %+v\n", label, c.table, err, c.op, op)
	}
}

// unmarshal decodes as FluxaORM's consumer does (msgpack.Unmarshal into its type); the
// library panics on some malformed input, which counts as an error here.
func unmarshal(b []byte) (op AsyncSQLOperation, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("msgpack.Unmarshal panicked: %v", r)
		}
	}()
	err = msgpack.Unmarshal(b, &op)
	return op, err
}

func (t *tally) print(what string) {
	fmt.Printf("byte-identical %d/%d\ndecoded-equal %d/%d\n", t.identical, t.total, t.equal, t.total)
	fmt.Fprintf(os.Stderr, "%s: %d/%d byte-identical, %d/%d decoded equal\n", what, t.identical, t.total, t.equal, t.total)
}

// ---------------------------------------------------------------- Kafka ----

func client(brokers string, opts ...kgo.Opt) *kgo.Client {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, opts...)...)
	if err != nil {
		fail(err)
	}
	return cl
}

func produce(brokers, topic string, cs []testCase, dead bool) {
	cl := client(brokers, kgo.AllowAutoTopicCreation())
	defer cl.Close()
	recs := make([]*kgo.Record, len(cs))
	for i, c := range cs {
		value, err := msgpack.Marshal(c.op)
		if err != nil {
			fail(err)
		}
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(c.table), Value: value}
		if dead {
			recs[i].Headers = []kgo.RecordHeader{{Key: "error", Value: []byte("Error 1146: Table '" + c.table + "' doesn't exist")}}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		fail(err)
	}
	fmt.Printf("produced %d\n", len(recs))
}

func consume(brokers, topic string, cs []testCase, n int, dead bool) {
	byKey := map[string]testCase{}
	for _, c := range cs {
		byKey[c.table] = c
	}
	cl := client(brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var t tally
	headers := 0
	for t.total < n && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(rec *kgo.Record) {
			c, ok := byKey[string(rec.Key)]
			if !ok {
				fmt.Printf("record with unknown key %q\n", rec.Key)
				t.total++
				return
			}
			for _, h := range rec.Headers {
				if h.Key == "error" && len(h.Value) > 0 {
					headers++
				}
			}
			t.compare("record", c, rec.Value)
		})
	}
	if dead {
		fmt.Printf("error-header %d/%d\n", headers, t.total)
	}
	t.print("consumed from " + topic)
}

// ---------------------------------------------------------------- main ----

func fail(err any) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func intArg(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail(err)
	}
	return n
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		fail("usage: interop cases|check N SEED | produce BROKERS TOPIC N SEED [dead] | consume BROKERS TOPIC N SEED RECORDS [dead] | partitions N")
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<28)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	switch args[0] {
	case "cases":
		for _, c := range cases(int(intArg(args[1])), intArg(args[2])) {
			value, err := msgpack.Marshal(c.op)
			if err != nil {
				fail(err)
			}
			fmt.Fprintf(out, "L %s\nE %s\nG %s\n", c.lua, c.expect, hex.EncodeToString(value))
		}
	case "check":
		var t tally
		for _, c := range cases(int(intArg(args[1])), intArg(args[2])) {
			if !in.Scan() {
				fail("fewer encodings than cases")
			}
			got, err := hex.DecodeString(strings.TrimSpace(in.Text()))
			if err != nil {
				fail(err)
			}
			t.compare("case", c, got)
		}
		t.print("fluxakafka's encodings")
	case "produce":
		n := int(intArg(args[3]))
		produce(args[1], args[2], cases(n, intArg(args[4]))[:n], len(args) > 5)
	case "consume":
		n := int(intArg(args[3]))
		consume(args[1], args[2], cases(n, intArg(args[4]))[:n], int(intArg(args[5])), len(args) > 6)
	case "partitions":
		// the producer's default: kgo.StickyKeyPartitioner(nil), murmur2 for keyed records
		p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
		for in.Scan() {
			fmt.Fprintln(out, p.Partition(&kgo.Record{Key: []byte(in.Text())}, int(intArg(args[1]))))
		}
	default:
		fail("unknown command " + args[0])
	}
}
