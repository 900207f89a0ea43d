package dev.guardstream.examples;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads guardstream's verdicts as a platform team would: read_committed, from the group's committed
 * offsets (else the beginning) up to the end offsets found at start, and prints each decoded verdict
 * as a JSON line, then a summary line. The group's offsets are committed when it stops, so a second
 * run goes on from there.
 */
public final class VerdictConsumer {
    private VerdictConsumer() {}

    public static void main(String[] args) throws IOException {
        if (List.of(args).contains("--help")) {
            System.out.println(Options.USAGE);
            return;
        }
        Options options;
        try {
            options = Options.parse(args, System.getenv());
        } catch (IllegalArgumentException bad) {
            System.err.println(bad.getMessage() + "\n" + Options.USAGE);
            System.exit(2);
            return;
        }
        System.exit(consume(options, VerdictDecoders.forSchemaFile(options.schema())));
    }

    /** The exit status: 0 read to the end (or max records), 1 an undecodable value or no such topic, 3 timed out. */
    static int consume(Options options, BinaryMessageDecoder<GenericRecord> decoder) throws IOException {
        Map<String, Long> labels = new TreeMap<>();
        Map<TopicPartition, OffsetAndMetadata> printed = new HashMap<>();
        try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(
                properties(options), new StringDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = consumer.partitionsFor(options.topic()).stream()
                    .map(info -> new TopicPartition(info.topic(), info.partition()))
                    .toList();
            if (partitions.isEmpty()) {
                System.err.printf("no topic %s at %s%n", options.topic(), options.bootstrapServers());
                return 1;
            }
            consumer.assign(partitions);
            // read_committed: the last stable offsets, so an open transaction is not waited for.
            Map<TopicPartition, Long> ends = consumer.endOffsets(partitions);
            Instant deadline = Instant.now().plus(options.timeout());
            long read = 0;
            try {
                while (read < options.maxRecords() && !atEnd(consumer, ends)) {
                    if (Instant.now().isAfter(deadline)) {
                        summary(read, labels, false);
                        System.err.printf("%s not read to its end offsets %s within %s%n",
                                options.topic(), ends, options.timeout());
                        return 3;
                    }
                    for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                        GenericRecord verdict = decode(decoder, record);
                        if (verdict == null) {
                            return 1;
                        }
                        print(record, verdict);
                        labels.merge(verdict.get("label").toString(), 1L, Long::sum);
                        printed.put(new TopicPartition(record.topic(), record.partition()),
                                new OffsetAndMetadata(record.offset() + 1));
                        if (++read == options.maxRecords()) {
                            break;
                        }
                    }
                }
                summary(read, labels, atEnd(consumer, ends));
                return 0;
            } finally {
                // What was printed is done: a second run of the group goes on after it.
                consumer.commitSync(printed);
            }
        }
    }

    /** The verdict, or null after saying on stderr where the value that is no Verdict lies. */
    private static GenericRecord decode(BinaryMessageDecoder<GenericRecord> decoder,
            ConsumerRecord<String, byte[]> record) {
        try {
            if (record.value() == null) {
                throw new AvroRuntimeException("no value (a tombstone)");
            }
            return decoder.decode(record.value());
        } catch (IOException | AvroRuntimeException unreadable) {
            System.err.printf("%s[%d] offset=%d: cannot decode the value as a Verdict: %s%n",
                    record.topic(), record.partition(), record.offset(), unreadable);
            return null;
        }
    }

    private static Properties properties(Options options) throws IOException {
        Properties properties = new Properties();
        if (options.consumerConfig().isPresent()) {
            try (InputStream file = Files.newInputStream(options.consumerConfig().get())) {
                properties.load(file);
            }
        }
        properties.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrapServers());
        properties.put(ConsumerConfig.GROUP_ID_CONFIG, options.group());
        properties.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        properties.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        properties.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        properties.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        return properties;
    }

    private static boolean atEnd(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> ends) {
        return ends.entrySet().stream().allMatch(end -> consumer.position(end.getKey()) >= end.getValue());
    }

    /** One JSON object: where the record was, its key, and the verdict's fields (Avro renders records as JSON). */
    private static void print(ConsumerRecord<String, byte[]> record, GenericRecord verdict) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("topic", record.topic());
        line.put("partition", record.partition());
        line.put("offset", record.offset());
        line.put("key", record.key());
        line.put("verdict", verdict);
        System.out.println(GenericData.get().toString(line));
    }

    private static void summary(long read, Map<String, Long> labels, boolean complete) {
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("verdicts", read);
        summary.put("labels", labels);
        summary.put("complete", complete);
        System.out.println(GenericData.get().toString(Map.of("summary", summary)));
    }
}
