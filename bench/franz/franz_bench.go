// franz-go (FluxaORM's Kafka client) doing the work of bench/fluxakafka_bench.lua, for
// bench/franz.sh:
//
//	franz_bench produce <brokers> <topic> <count> <size>
//	franz_bench consume <brokers> <topic> <count>
//
// produce: one acknowledged warm-up record (not timed; it auto-creates the topic), then count records of size bytes
// through Produce with a promise counting failures, then Flush; timed until Flush returns.
// Settings: acks=all (franz-go's default, idempotent), LINGER_MS (default 0) and no
// compression, as fluxakafka's pools (franz-go would otherwise snappy-compress).
// consume: a new group from the earliest offset, PollFetches and EachRecord reading every
// field (topic, partition, offset, key, value, headers, timestamp), timed from the first
// record received to the count-th (records/s); its CPU span starts before the client is
// created, as the client fetches ahead while it joins the group.
//
// Besides "RESULT <mode> <count> <records per second>" it prints
// "PROCCPU <mode> <client ns/record> <broker ns/record>": the CPU of this whole process (all
// its threads, getrusage RUSAGE_SELF) and of the broker (utime+stime of /proc/$FK_BROKER_PID/stat,
// "n/a" without it) over the timed span, divided by the records.
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func die(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		die("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// brokerTicks is utime+stime of the broker in clock ticks (fields 14 and 15 of its stat line,
// counted after the command name, which may hold spaces), or -1 when unknown.
func brokerTicks() int64 {
	pid := os.Getenv("FK_BROKER_PID")
	if pid == "" {
		return -1
	}
	data, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	u, _ := strconv.ParseInt(fields[11], 10, 64)
	s, _ := strconv.ParseInt(fields[12], 10, 64)
	return u + s
}

type span struct {
	cpu    time.Duration
	broker int64
	wall   time.Time
}

func begin() span { return span{selfCPU(), brokerTicks(), time.Now()} }

// end prints the PROCCPU line of a span and returns its wall time in seconds.
func (s span) end(mode string, count int) float64 {
	cpu, broker, wall := selfCPU(), brokerTicks(), time.Since(s.wall).Seconds()
	brokerNs := "n/a"
	if s.broker >= 0 && broker >= 0 {
		// Linux reports stat times in USER_HZ, 100 per second on every architecture Go runs on
		brokerNs = fmt.Sprintf("%.1f", float64(broker-s.broker)*1e7/float64(count))
	}
	fmt.Printf("PROCCPU %s %.1f %s\n", mode, float64(cpu-s.cpu)/float64(count), brokerNs)
	return wall
}

func main() {
	if len(os.Args) < 5 {
		die("usage: franz_bench produce <brokers> <topic> <count> <size> | consume <brokers> <topic> <count>")
	}
	mode, brokers, topic := os.Args[1], strings.Split(os.Args[2], ","), os.Args[3]
	count, err := strconv.Atoi(os.Args[4])
	if err != nil || count < 1 {
		die("count must be a positive number")
	}
	switch mode {
	case "produce":
		size := 100
		if len(os.Args) > 5 {
			size, _ = strconv.Atoi(os.Args[5])
		}
		produce(brokers, topic, count, size)
	case "consume":
		consume(brokers, topic, count)
	default:
		die("unknown mode %s", mode)
	}
}

func produce(brokers []string, topic string, count, size int) {
	linger := 0
	if v := os.Getenv("LINGER_MS"); v != "" {
		linger, _ = strconv.Atoi(v)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(time.Duration(linger)*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		die("client: %v", err)
	}
	defer cl.Close()
	ctx := context.Background()
	payload := []byte(strings.Repeat("x", size))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: payload}).FirstErr(); err != nil {
		die("warm-up record: %v", err)
	}
	fmt.Printf("settings: acks=all linger=%dms compression=none idempotent (franz-go defaults otherwise)\n", linger)
	var failed atomic.Int64
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
		}
	}
	s := begin()
	for i := 0; i < count; i++ {
		cl.Produce(ctx, &kgo.Record{Value: payload}, promise)
	}
	if err := cl.Flush(ctx); err != nil {
		die("flush: %v", err)
	}
	elapsed := s.end("produce", count)
	if f := failed.Load(); f != 0 {
		die("%d records failed", f)
	}
	fmt.Printf("produced %d records of %d bytes to '%s' in %.3f s\n", count, size, topic, elapsed)
	fmt.Printf("RESULT produce %d %.1f\n", count, float64(count)/elapsed)
}

func consume(brokers []string, topic string, count int) {
	group := fmt.Sprintf("bench-franz-%d-%d", time.Now().Unix(), os.Getpid())
	cpuSpan := begin()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumerGroup(group),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		die("client: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var first time.Time
	received, sum := 0, 0
	for received < count {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			die("received only %d of %d records from '%s' in 120 s", received, count, topic)
		}
		fetches.EachError(func(t string, p int32, err error) { die("fetch %s/%d: %v", t, p, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if received == count {
				return
			}
			if received == 0 {
				first = time.Now()
			}
			received++
			// every field a fluxakafka record carries, so that neither side skips work
			sum += len(r.Key) + len(r.Value) + len(r.Headers) + len(r.Topic) + int(r.Partition) +
				int(r.Offset&1) + int(r.Timestamp.UnixMilli()&1)
		})
	}
	cpuSpan.end("consume", received)
	elapsed := time.Since(first).Seconds()
	fmt.Printf("consumed %d records (checksum %d) from '%s' in %.3f s\n", received, sum, topic, elapsed)
	fmt.Printf("RESULT consume %d %.1f\n", count, float64(received)/elapsed)
}
