// A FluxaORM-shaped Go service for spec-interop/fleet_spec.lua: the async SQL types as
// FluxaORM declares them (msgpack struct tags, shamaton/msgpack 1.2.1) and a franz-go client
// set up the way FluxaORM's Kafka pool sets up its consumer groups (no balancer chosen, so
// franz-go's cooperative-sticky; manual commits; metadata refreshed every second). Written for
// this project from the wire facts; nothing here is FluxaORM's code.
//
//	fleet member  -brokers B -group G -topic T -name N -applied FILE [-session 6s]
//	    joins G, "applies" each operation by appending "go N <partition> <offset> <id>" to
//	    FILE, then commits (FluxaORM's Consume: poll, apply every record, commit); SIGTERM
//	    closes the client, which leaves the group
//	fleet produce -brokers B -topic T -from A -to Z
//	    produces operations A..Z as FluxaORM's FlushAsync writes them, keyed by table
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shamaton/msgpack"
	"github.com/twmb/franz-go/pkg/kgo"
)

type asyncParam struct {
	Null bool   `msgpack:"n,omitempty"`
	Type string `msgpack:"t,omitempty"`
	Val  string `msgpack:"v,omitempty"`
}

type asyncQuery struct {
	Q string       `msgpack:"q"`
	P []asyncParam `msgpack:"p"`
}

type asyncEvent struct {
	CacheIndex uint64                `msgpack:"ci"`
	EntityID   uint64                `msgpack:"id"`
	FlushType  uint8                 `msgpack:"ft"`
	Changes    map[string]asyncParam `msgpack:"ch,omitempty"`
}

type asyncRedis struct {
	Pool string   `msgpack:"p"`
	Cmd  string   `msgpack:"c"`
	Args []string `msgpack:"a,omitempty"`
}

type asyncOperation struct {
	Pool     string       `msgpack:"pool"`
	Queries  []asyncQuery `msgpack:"queries"`
	Events   []asyncEvent `msgpack:"events,omitempty"`
	RedisOps []asyncRedis `msgpack:"redis,omitempty"`
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "fleet: "+format+"\n", args...)
	os.Exit(2)
}

func member(args []string) {
	fs := flag.NewFlagSet("member", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "")
	group := fs.String("group", "", "")
	topic := fs.String("topic", "", "")
	name := fs.String("name", "go", "")
	appliedPath := fs.String("applied", "", "")
	session := fs.Duration("session", 6*time.Second, "")
	_ = fs.Parse(args)

	applied, err := os.OpenFile(*appliedPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fail("%v", err)
	}
	client, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(*brokers, ",")...),
		kgo.ConsumerGroup(*group),
		kgo.ConsumeTopics(*topic),
		kgo.SessionTimeout(*session),
		kgo.DisableAutoCommit(),
		kgo.MetadataMinAge(time.Second),
	)
	if err != nil {
		fail("%v", err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Printf("pid %d\n", os.Getpid())
	for {
		select {
		case <-stop:
			client.Close()
			fmt.Println("closed")
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fetches := client.PollFetches(ctx)
		cancel()
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				fmt.Fprintf(os.Stderr, "fetch error %s[%d]: %v\n", t, p, err)
			}
		})
		var lines strings.Builder
		fetches.EachRecord(func(r *kgo.Record) {
			var op asyncOperation
			if err := msgpack.Unmarshal(r.Value, &op); err != nil || len(op.Queries) == 0 {
				fmt.Fprintf(os.Stderr, "undecodable record %s[%d]@%d: %v\n", r.Topic, r.Partition, r.Offset, err)
				return
			}
			// a record carries every operation flushed together for its table, one query each
			for _, q := range op.Queries {
				if len(q.P) == 0 {
					fmt.Fprintf(os.Stderr, "undecodable record %s[%d]@%d: a query without its id\n", r.Topic, r.Partition, r.Offset)
					continue
				}
				fmt.Fprintf(&lines, "go %s %d %d %s\n", *name, r.Partition, r.Offset, q.P[0].Val)
			}
		})
		if lines.Len() == 0 {
			continue
		}
		if _, err := applied.WriteString(lines.String()); err != nil {
			fail("%v", err)
		}
		if err := client.CommitUncommittedOffsets(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "commit: %v\n", err)
		}
	}
}

func produce(args []string) {
	fs := flag.NewFlagSet("produce", flag.ExitOnError)
	brokers := fs.String("brokers", "127.0.0.1:9092", "")
	topic := fs.String("topic", "", "")
	from := fs.Int64("from", 1, "")
	to := fs.Int64("to", 1, "")
	_ = fs.Parse(args)

	client, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*brokers, ",")...))
	if err != nil {
		fail("%v", err)
	}
	defer client.Close()
	var records []*kgo.Record
	for id := *from; id <= *to; id++ {
		table := "t" + strconv.FormatInt(id%31, 10)
		op := asyncOperation{Pool: "default", Queries: []asyncQuery{{
			Q: "INSERT INTO " + table + " (id) VALUES (?)",
			P: []asyncParam{{Type: "i", Val: strconv.FormatInt(id, 10)}},
		}}}
		value, err := msgpack.Marshal(op)
		if err != nil {
			fail("%v", err)
		}
		records = append(records, &kgo.Record{Topic: *topic, Key: []byte(table), Value: value})
	}
	if err := client.ProduceSync(context.Background(), records...).FirstErr(); err != nil {
		fail("produce: %v", err)
	}
	fmt.Printf("produced %d\n", len(records))
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: fleet member|produce ...")
	}
	switch os.Args[1] {
	case "member":
		member(os.Args[2:])
	case "produce":
		produce(os.Args[2:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}
