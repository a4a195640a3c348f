// The Go side of spec/async_sql_spec.lua: FluxaORM's async SQL record types, written out
// here from its documented wire format (field names and msgpack tags), encoded and decoded
// with the msgpack library FluxaORM builds with (github.com/shamaton/msgpack v1.2.1), and
// franz-go's default partitioner. The spec builds this in a temporary module.
//
//	interop encode            prints the samples below, one hex msgpack value per line,
//	                          each followed by a line with its canonical dump
//	interop decode            reads hex msgpack values (one a line) from stdin and prints
//	                          the canonical dump of each
//	interop partitions N      reads keys (one a line) and prints franz-go's partition for each
package main

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/shamaton/msgpack"
	"github.com/twmb/franz-go/pkg/kgo"
)

type Param struct {
	N bool   `msgpack:"n,omitempty"`
	T string `msgpack:"t,omitempty"`
	V string `msgpack:"v,omitempty"`
}

type Query struct {
	Q string  `msgpack:"q"`
	P []Param `msgpack:"p"`
}

type Event struct {
	CI int              `msgpack:"ci"`
	ID uint64           `msgpack:"id"`
	FT int              `msgpack:"ft"`
	CH map[string]Param `msgpack:"ch"`
}

type Redis struct {
	P string        `msgpack:"p"`
	C string        `msgpack:"c"`
	A []interface{} `msgpack:"a"`
}

type Op struct {
	Pool    string  `msgpack:"pool"`
	Queries []Query `msgpack:"queries"`
	Events  []Event `msgpack:"events,omitempty"`
	Redis   []Redis `msgpack:"redis,omitempty"`
}

// The canonical dump: one line per item, values by what they mean rather than how they
// were spelled. The Lua spec writes the same dump of its own tables.
func number(text string) string {
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		return "num:" + strconv.FormatInt(i, 10)
	}
	if u, err := strconv.ParseUint(text, 10, 64); err == nil {
		return "num:" + strconv.FormatUint(u, 10)
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil {
		return "bad-number:" + text
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return "num:" + strconv.FormatInt(int64(f), 10)
	}
	return "num:" + fmt.Sprintf("%.17g", f)
}

func dumpParam(p Param) string {
	if p.N {
		return "null"
	}
	switch p.T {
	case "s":
		return "str:" + hex.EncodeToString([]byte(p.V))
	case "i", "u", "f":
		return number(p.V)
	case "b":
		return "bool:" + p.V
	case "t":
		return "time:" + p.V
	}
	return "bad-type:" + p.T
}

func dumpArg(a interface{}) string {
	switch v := a.(type) {
	case nil:
		return "null"
	case bool:
		if v {
			return "bool:1"
		}
		return "bool:0"
	case string:
		return "str:" + hex.EncodeToString([]byte(v))
	case []byte:
		return "str:" + hex.EncodeToString(v)
	case float32:
		return number(strconv.FormatFloat(float64(v), 'g', -1, 64))
	case float64:
		return number(strconv.FormatFloat(v, 'g', -1, 64))
	default:
		return number(fmt.Sprint(v))
	}
}

func dump(op Op) string {
	var b strings.Builder
	fmt.Fprintf(&b, "pool=%x", op.Pool)
	for _, q := range op.Queries {
		fmt.Fprintf(&b, "|q=%x", q.Q)
		for _, p := range q.P {
			b.WriteString(" " + dumpParam(p))
		}
	}
	if op.Events == nil {
		b.WriteString("|events=nil")
	}
	for _, e := range op.Events {
		fmt.Fprintf(&b, "|event ci=%s id=%s ft=%s", number(strconv.Itoa(e.CI)), number(strconv.FormatUint(e.ID, 10)), number(strconv.Itoa(e.FT)))
		cols := make([]string, 0, len(e.CH))
		for c := range e.CH {
			cols = append(cols, c)
		}
		sort.Strings(cols)
		for _, c := range cols {
			fmt.Fprintf(&b, " %x=%s", c, dumpParam(e.CH[c]))
		}
	}
	if op.Redis == nil {
		b.WriteString("|redis=nil")
	}
	for _, r := range op.Redis {
		fmt.Fprintf(&b, "|redis p=%x c=%x", r.P, r.C)
		for _, a := range r.A {
			b.WriteString(" " + dumpArg(a))
		}
	}
	return b.String()
}

func samples() []Op {
	return []Op{
		{
			Pool: "default",
			Queries: []Query{
				{Q: "INSERT INTO `users` (`ID`, `Name`, `Age`, `Balance`, `Active`, `Born`, `Note`) VALUES (?, ?, ?, ?, ?, ?, ?)",
					P: []Param{{T: "u", V: "18446744073709551615"}, {T: "s", V: "Zoë \"quoted\"\n"}, {T: "i", V: "-9223372036854775808"},
						{T: "f", V: "1234.5"}, {T: "b", V: "1"}, {T: "t", V: "2024-02-29T23:59:58.123456789Z"}, {N: true}}},
				{Q: "UPDATE `users` SET `Age` = ? WHERE `ID` = ?", P: []Param{{T: "i", V: "9007199254740993"}, {T: "u", V: "7"}}},
			},
			Events: []Event{
				{CI: 3, ID: 18446744073709551615, FT: 1, CH: map[string]Param{"Name": {T: "s", V: "ann"}, "Note": {N: true}}},
				{CI: 0, ID: 7, FT: 3},
			},
			Redis: []Redis{{P: "default", C: "del", A: []interface{}{"u:7", int64(5), nil, true, 2.5}}},
		},
		{
			Pool:    "logs",
			Queries: []Query{{Q: "DELETE FROM `audit` WHERE `At` < ?", P: []Param{{T: "t", V: "1970-01-01T00:00:00Z"}}}, {Q: "SELECT 1"}},
		},
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: interop encode | decode | partitions N")
		os.Exit(2)
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	switch os.Args[1] {
	case "encode":
		for _, op := range samples() {
			b, err := msgpack.Marshal(op)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			fmt.Println(hex.EncodeToString(b))
			fmt.Println(dump(op))
		}
	case "decode":
		for in.Scan() {
			raw, err := hex.DecodeString(strings.TrimSpace(in.Text()))
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			var op Op
			if err := msgpack.Unmarshal(raw, &op); err != nil {
				fmt.Println("error: " + err.Error())
				continue
			}
			fmt.Println(dump(op))
		}
	case "partitions":
		n, err := strconv.Atoi(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// the producer's default: kgo.StickyKeyPartitioner(nil), murmur2 for keyed records
		p := kgo.StickyKeyPartitioner(nil).ForTopic("t")
		for in.Scan() {
			fmt.Println(p.Partition(&kgo.Record{Key: []byte(in.Text())}, n))
		}
	}
}
