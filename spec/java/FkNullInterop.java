// Kafka's Java client on the records of spec/null_interop_spec.lua: null values, null header
// values and header keys and values with NUL bytes, written and read back as bytes.
//   java FkNullInterop BROKERS produce TOPIC      writes two records to partition 0
//   java FkNullInterop BROKERS consume TOPIC N    prints the first N records of partition 0
// A record is printed on one line, every byte string as "x" and its hex digits, a null as NULL:
//   <offset> key=<k> value=<v> header=<key>:<value> ...
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public class FkNullInterop {
    static byte[] bytes(String s) { return s.getBytes(StandardCharsets.UTF_8); }

    static String show(byte[] b) {
        if (b == null) return "NULL";
        StringBuilder s = new StringBuilder("x");
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }

    static void produce(String brokers, String topic) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", brokers);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            ProducerRecord<byte[], byte[]> tombstone = new ProducerRecord<>(topic, 0, bytes("k1"), null);
            tombstone.headers().add("n", null);
            tombstone.headers().add("a\u0000b", bytes("x\u0000y"));
            producer.send(tombstone).get();
            producer.send(new ProducerRecord<>(topic, 0, null, new byte[0])).get();
        }
    }

    static void consume(String brokers, String topic, int want) {
        Properties p = new Properties();
        p.put("bootstrap.servers", brokers);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("enable.auto.commit", "false");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            TopicPartition tp = new TopicPartition(topic, 0);
            List<TopicPartition> parts = Collections.singletonList(tp);
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            long deadline = System.currentTimeMillis() + 30000;
            int got = 0;
            while (got < want && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    StringBuilder line = new StringBuilder();
                    line.append(r.offset()).append(" key=").append(show(r.key())).append(" value=").append(show(r.value()));
                    for (Header h : r.headers())
                        line.append(" header=").append(show(bytes(h.key()))).append(":").append(show(h.value()));
                    System.out.println(line);
                    got++;
                }
            }
        }
    }

    public static void main(String[] args) throws Exception {
        if (args[1].equals("produce")) produce(args[0], args[2]);
        else consume(args[0], args[2], Integer.parseInt(args[3]));
    }
}
