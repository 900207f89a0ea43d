package dev.guardstream.examples;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;

/** Avro single-object decoding (C3 01, fingerprint, body) into one reader schema, from any known writer schema. */
final class VerdictDecoders {
    private VerdictDecoders() {}

    /**
     * A decoder whose reader schema is {@code schemaFile}; it knows that schema as a writer too, and every
     * earlier version kept in {@code history/<name>/} beside it (guardstream keeps them so that their
     * fingerprints stay known). An unknown fingerprint raises MissingSchemaException.
     */
    static BinaryMessageDecoder<GenericRecord> forSchemaFile(Path schemaFile) throws IOException {
        Schema reader = parse(schemaFile);
        SchemaStore.Cache writers = new SchemaStore.Cache();
        for (Path old : historyOf(schemaFile)) {
            writers.addSchema(parse(old));
        }
        return new BinaryMessageDecoder<>(GenericData.get(), reader, writers);
    }

    static List<Path> historyOf(Path schemaFile) throws IOException {
        String name = schemaFile.getFileName().toString().replaceFirst("\\.avsc$", "");
        Path folder = schemaFile.resolveSibling("history").resolve(name);
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(folder)) {
            return files.filter(path -> path.toString().endsWith(".avsc")).sorted().toList();
        }
    }

    /** One Parser per file: every version defines the same full names (guardstream.Verdict, …). */
    private static Schema parse(Path file) throws IOException {
        return new Schema.Parser().parse(file.toFile());
    }
}
