package dev.guardstream.examples;

import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** What to read and how long: from the command line, else from guardstream's own variables, else defaults. */
record Options(
        String bootstrapServers,
        String topic,
        String group,
        Path schema,
        long maxRecords,
        Duration timeout,
        Optional<Path> consumerConfig) {

    private static final Set<String> NAMES = Set.of(
            "bootstrap-servers", "topic", "group", "schema", "max-records", "timeout-s", "consumer-config");

    static final String USAGE = """
            usage: java -cp 'target/classes:target/dependency/*' dev.guardstream.examples.VerdictConsumer [options]
              --bootstrap-servers HOST:PORT  default $GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS, else 127.0.0.1:19092
              --topic NAME                   default $GUARDSTREAM_TOPICS__VERDICTS, else moderation.verdicts
              --group ID                     consumer group whose committed offsets it starts from and commits
                                             (default java-verdict-consumer)
              --schema FILE                  reader schema (default schemas/verdict.avsc); the writer schemas are
                                             FILE and the *.avsc in history/<name>/ beside it
              --max-records N                stop after N verdicts (default: no limit)
              --timeout-s S                  give up after S seconds if the end is not reached (default 60)
              --consumer-config FILE         extra consumer properties (security settings, for one)
            Reads read_committed up to the end offsets found at start; prints one JSON line per verdict and a
            summary line. Exit status: 0 read to the end (or N verdicts), 1 a value it cannot decode or no
            such topic, 2 bad arguments, 3 the timeout came first.""";

    static Options parse(String[] args, Map<String, String> env) {
        Map<String, String> given = new HashMap<>();
        for (int i = 0; i < args.length; i += 2) {
            String name = args[i].replaceFirst("^--", "");
            if (!NAMES.contains(name) || i + 1 >= args.length) {
                throw new IllegalArgumentException(
                        NAMES.contains(name) ? args[i] + " wants a value" : "unknown option " + args[i]);
            }
            given.put(name, args[i + 1]);
        }
        return new Options(
                given.getOrDefault("bootstrap-servers",
                        env.getOrDefault("GUARDSTREAM_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")),
                given.getOrDefault("topic", env.getOrDefault("GUARDSTREAM_TOPICS__VERDICTS", "moderation.verdicts")),
                given.getOrDefault("group", "java-verdict-consumer"),
                Path.of(given.getOrDefault("schema", "schemas/verdict.avsc")),
                positive(given, "max-records", Long.MAX_VALUE),
                Duration.ofSeconds(positive(given, "timeout-s", 60)),
                Optional.ofNullable(given.get("consumer-config")).map(Path::of));
    }

    private static long positive(Map<String, String> given, String name, long otherwise) {
        String text = given.get(name);
        if (text == null) {
            return otherwise;
        }
        try {
            long value = Long.parseLong(text);
            if (value > 0) {
                return value;
            }
        } catch (NumberFormatException ignored) {
            // said below
        }
        throw new IllegalArgumentException("--" + name + " wants a positive whole number, got " + text);
    }
}
