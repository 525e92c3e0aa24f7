package io.clickstreamer.flink;

import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.util.Utf8;
import org.apache.flink.table.data.StringData;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Decodes one Kafka record value written in the Confluent wire format (magic byte 0, 4-byte schema
 * id, Avro binary) into the datagen {@code ksql.pageviews} fields, reading the writer schema from
 * the Schema Registry. One instance per task; not thread-safe.
 *
 * <p>A valid record fills {@link #viewtime}, {@link #userId}, {@link #pageId} and
 * {@link #decode} returns null; anything else (not the wire format, a schema id the registry does
 * not know, a schema that cannot be read as pageviews, bytes that are not valid Avro for their
 * schema) returns the reason, so the job never stops on bad data. A registry outage is not bad
 * data: it fails the task (see {@link SchemaRegistryClient}) and Flink restarts it from the last
 * checkpoint.
 *
 * <p>Writer schemas laid out exactly like the reader's (long, string, string) are read by hand,
 * which is most of the job's decoding cost saved. Anything the hand-written path does not accept,
 * and every other writer schema, goes through Avro's resolving reader, which also words every
 * error, so both paths give the same rows and the same messages. Either way the strings come from
 * a {@link StringPool}: the same instance for the same id.
 */
final class PageviewDecoder {

    /** What the job reads: the datagen quickstart's value schema, without the generator hints. */
    static final Schema READER_SCHEMA = new Schema.Parser().parse(
            "{\"type\":\"record\",\"name\":\"pageviews\",\"namespace\":\"ksql\",\"fields\":["
                    + "{\"name\":\"viewtime\",\"type\":\"long\"},"
                    + "{\"name\":\"userid\",\"type\":\"string\"},"
                    + "{\"name\":\"pageid\",\"type\":\"string\"}]}");

    private static final int HEADER = 5;
    /** Distinct user and page ids kept for sharing (see {@link StringPool}). */
    private static final int POOLED_STRINGS = 1 << 16;
    /** How long a schema id the registry did not know stays known-unknown before asking again. */
    private static final long UNKNOWN_ID_RETRY_MILLIS = 30_000;

    private final SchemaRegistryClient registry;
    private final Map<Integer, Reader> readers = new HashMap<>();
    private final StringPool strings = new StringPool(POOLED_STRINGS);
    private BinaryDecoder decoder;
    /** The id of the previous valid record and its reader: records come in runs of one schema. */
    private int lastId;
    private Reader lastReader;

    long viewtime;
    StringData userId;
    StringData pageId;

    /** A reader for one writer schema id, or the reason records with that id cannot be read. */
    private static final class Reader {
        final GenericDatumReader<GenericRecord> datumReader;
        final boolean sameLayout;
        final String problem;
        final long expiresAt;
        GenericRecord reuse;

        Reader(GenericDatumReader<GenericRecord> datumReader, boolean sameLayout, String problem, long expiresAt) {
            this.datumReader = datumReader;
            this.sameLayout = sameLayout;
            this.problem = problem;
            this.expiresAt = expiresAt;
        }
    }

    PageviewDecoder(String registryUrl) {
        this.registry = new SchemaRegistryClient(registryUrl);
    }

    /** Null when the record is a page view (fields set), else why it is not. */
    String decode(byte[] payload) {
        if (payload == null) {
            return "empty record: the value is null";
        }
        if (payload.length < HEADER) {
            return "not Confluent wire format: " + payload.length + " bytes, shorter than the 5-byte header";
        }
        if (payload[0] != 0) {
            return String.format("not Confluent wire format: magic byte 0x%02x", payload[0] & 0xff);
        }
        int id = ((payload[1] & 0xff) << 24) | ((payload[2] & 0xff) << 16) | ((payload[3] & 0xff) << 8)
                | (payload[4] & 0xff);
        Reader reader = lastReader != null && id == lastId ? lastReader : reader(id);
        if (reader.problem != null) {
            return reader.problem;
        }
        lastId = id;
        lastReader = reader;
        if (reader.sameLayout && readSameLayout(payload)) {
            return null;
        }
        return readResolving(reader, id, payload);
    }

    /**
     * viewtime (zig-zag varint long), then two strings (zig-zag varint length, UTF-8 bytes), and
     * nothing after: false at the first thing that is not exactly that, for Avro to judge.
     */
    private boolean readSameLayout(byte[] bytes) {
        int end = bytes.length;
        int at = HEADER;
        long raw = 0;
        int shift = 0;
        while (true) {
            // Nine bytes hold 63 bits; longer encodings are left to Avro (valid or not).
            if (at >= end || shift > 56) {
                return false;
            }
            byte b = bytes[at++];
            raw |= (long) (b & 0x7f) << shift;
            if (b >= 0) {
                break;
            }
            shift += 7;
        }
        long time = (raw >>> 1) ^ -(raw & 1);
        int userAt = 0;
        int userLength = 0;
        for (int field = 0; field < 2; field++) {
            int length = 0;
            shift = 0;
            while (true) {
                // Four bytes hold lengths up to 2^27 / 2: anything longer goes to Avro.
                if (at >= end || shift > 21) {
                    return false;
                }
                byte b = bytes[at++];
                length |= (b & 0x7f) << shift;
                if (b >= 0) {
                    break;
                }
                shift += 7;
            }
            if ((length & 1) != 0) {
                return false; // a negative length
            }
            length >>>= 1;
            if (length > end - at) {
                return false;
            }
            if (field == 0) {
                userAt = at;
                userLength = length;
            } else {
                if (at + length != end) {
                    return false;
                }
                viewtime = time;
                userId = strings.intern(bytes, userAt, userLength);
                pageId = strings.intern(bytes, at, length);
                return true;
            }
            at += length;
        }
        return false;
    }

    private String readResolving(Reader reader, int id, byte[] payload) {
        decoder = DecoderFactory.get().binaryDecoder(payload, HEADER, payload.length - HEADER, decoder);
        GenericRecord record;
        try {
            record = reader.datumReader.read(reader.reuse, decoder);
            reader.reuse = record;
            if (!decoder.isEnd()) {
                return "not valid Avro for schema id " + id + ": bytes left after the record";
            }
        } catch (Exception e) {
            // Truncated or corrupt Avro surfaces as EOFException, AvroRuntimeException,
            // ArrayIndexOutOfBounds or NegativeArraySize: all are bad bytes, none is an outage.
            return "not valid Avro for schema id " + id + ": " + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage());
        }
        viewtime = (Long) record.get(0);
        userId = string(record.get(1));
        pageId = string(record.get(2));
        return null;
    }

    private Reader reader(int id) {
        Reader reader = readers.get(id);
        if (reader != null && (reader.problem == null || System.currentTimeMillis() < reader.expiresAt)) {
            return reader;
        }
        try {
            Schema writer = registry.schemaById(id);
            // Checked once per id: an incompatible writer schema gives one clear error for all its records.
            SchemaCompatibility.SchemaPairCompatibility compatibility =
                    SchemaCompatibility.checkReaderWriterCompatibility(READER_SCHEMA, writer);
            if (compatibility.getType() != SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE) {
                reader = new Reader(null, false, "schema id " + id + " cannot be read as ksql.pageviews: "
                        + compatibility.getResult().getIncompatibilities(), Long.MAX_VALUE);
            } else {
                reader = new Reader(new GenericDatumReader<>(writer, READER_SCHEMA), sameLayout(writer), null,
                        Long.MAX_VALUE);
            }
        } catch (SchemaRegistryClient.UnknownSchema e) {
            reader = new Reader(null, false, e.getMessage(), System.currentTimeMillis() + UNKNOWN_ID_RETRY_MILLIS);
        } catch (AvroRuntimeException e) {
            reader = new Reader(null, false, "schema id " + id + " cannot be read as ksql.pageviews: " + e.getMessage(),
                    Long.MAX_VALUE);
        }
        readers.put(id, reader);
        return reader;
    }

    /** The writer writes exactly the reader's fields, in its order, with its types. */
    static boolean sameLayout(Schema writer) {
        if (writer.getType() != Schema.Type.RECORD) {
            return false;
        }
        List<Schema.Field> fields = writer.getFields();
        List<Schema.Field> expected = READER_SCHEMA.getFields();
        if (fields.size() != expected.size()) {
            return false;
        }
        for (int i = 0; i < fields.size(); i++) {
            Schema type = fields.get(i).schema();
            if (!fields.get(i).name().equals(expected.get(i).name())
                    || type.getType() != expected.get(i).schema().getType()
                    || type.getLogicalType() != null) {
                return false;
            }
        }
        return true;
    }

    private StringData string(Object value) {
        if (value instanceof Utf8) {
            // (the reader reuses the Utf8 buffer for the next record: the pool copies the bytes)
            Utf8 utf8 = (Utf8) value;
            return strings.intern(utf8.getBytes(), 0, utf8.getByteLength());
        }
        if (value == null) {
            return null;
        }
        byte[] bytes = value.toString().getBytes(StandardCharsets.UTF_8);
        return strings.intern(bytes, 0, bytes.length);
    }
}
