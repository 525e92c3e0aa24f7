package io.clickstreamer.flink;

import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.util.Utf8;
import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.annotation.FunctionHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.TableFunction;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * {@code DECODE_PAGEVIEW(payload BYTES, registry_url STRING)}: decodes one Kafka record value
 * written in the Confluent wire format (magic byte 0, 4-byte schema id, Avro binary) into the
 * datagen {@code ksql.pageviews} fields, reading the writer schema from the Schema Registry.
 *
 * <p>Emits exactly one row per input. A valid record gives {@code (viewtime, user_id, page_id,
 * NULL)}; anything else (not the wire format, a schema id the registry does not know, a schema
 * that cannot be read as pageviews, bytes that are not valid Avro for their schema) gives
 * {@code (NULL, NULL, NULL, error)}, so the job never stops on bad data ({@link MalformedBase64}
 * counts and keeps those). A registry outage is not bad data: it fails the task (see
 * {@link SchemaRegistryClient}) and Flink restarts it from the last checkpoint.
 *
 * <p>The planner gives each output branch (valid rows, malformed rows) its own copy of this
 * function, called one after the other on the same record in the same thread; the last result is
 * memoised by payload bytes, so a record is decoded once. Equal bytes always decode equally, so the
 * memo cannot change a result.
 */
@FunctionHint(
        output = @DataTypeHint(
                value = "ROW<viewtime BIGINT, user_id STRING, page_id STRING, error STRING>",
                bridgedTo = RowData.class))
public final class DecodePageview extends TableFunction<RowData> {

    private static final long serialVersionUID = 1L;

    /** What the job reads: the datagen quickstart's value schema, without the generator hints. */
    static final Schema READER_SCHEMA = new Schema.Parser().parse(
            "{\"type\":\"record\",\"name\":\"pageviews\",\"namespace\":\"ksql\",\"fields\":["
                    + "{\"name\":\"viewtime\",\"type\":\"long\"},"
                    + "{\"name\":\"userid\",\"type\":\"string\"},"
                    + "{\"name\":\"pageid\",\"type\":\"string\"}]}");

    private static final int HEADER = 5;
    /** How long a schema id the registry did not know stays known-unknown before asking again. */
    private static final long UNKNOWN_ID_RETRY_MILLIS = 30_000;

    private static final ThreadLocal<Memo> LAST = ThreadLocal.withInitial(Memo::new);

    private transient SchemaRegistryClient registry;
    private transient StringData registryUrl;
    private transient Map<Integer, Reader> readers;
    private transient BinaryDecoder decoder;

    /** A reader for one writer schema id, or the reason records with that id cannot be read. */
    private static final class Reader {
        final GenericDatumReader<GenericRecord> datumReader;
        final String problem;
        final long expiresAt;
        GenericRecord reuse;

        Reader(GenericDatumReader<GenericRecord> datumReader, String problem, long expiresAt) {
            this.datumReader = datumReader;
            this.problem = problem;
            this.expiresAt = expiresAt;
        }
    }

    private static final class Memo {
        byte[] payload;
        StringData url;
        RowData result;
    }

    /** A record that is not valid Confluent-Avro pageviews; the message goes to the error column. */
    private static final class Malformed extends Exception {
        Malformed(String message) {
            super(message, null, false, false);
        }
    }

    @Override
    public void open(FunctionContext context) {
        readers = new HashMap<>();
    }

    public void eval(byte[] payload, @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData url) {
        if (registry == null || !url.equals(registryUrl)) {
            registryUrl = url;
            registry = new SchemaRegistryClient(url.toString());
            readers.clear();
        }
        Memo last = LAST.get();
        if (payload != null && Arrays.equals(payload, last.payload) && url.equals(last.url)) {
            collect(last.result);
            return;
        }
        RowData result;
        try {
            result = decode(payload);
        } catch (Malformed e) {
            result = GenericRowData.of(null, null, null, StringData.fromString(e.getMessage()));
        }
        // A copy: the memo must not depend on nobody reusing the array for a later record.
        last.payload = payload == null ? null : payload.clone();
        last.url = url;
        last.result = result;
        collect(result);
    }

    private RowData decode(byte[] payload) throws Malformed {
        if (payload == null) {
            throw new Malformed("empty record: the value is null");
        }
        if (payload.length < HEADER) {
            throw new Malformed("not Confluent wire format: " + payload.length
                    + " bytes, shorter than the 5-byte header");
        }
        if (payload[0] != 0) {
            throw new Malformed(String.format("not Confluent wire format: magic byte 0x%02x", payload[0] & 0xff));
        }
        int id = ((payload[1] & 0xff) << 24) | ((payload[2] & 0xff) << 16) | ((payload[3] & 0xff) << 8)
                | (payload[4] & 0xff);
        Reader reader = reader(id);
        if (reader.problem != null) {
            throw new Malformed(reader.problem);
        }
        decoder = DecoderFactory.get().binaryDecoder(payload, HEADER, payload.length - HEADER, decoder);
        GenericRecord record;
        try {
            record = reader.datumReader.read(reader.reuse, decoder);
            reader.reuse = record;
            if (!decoder.isEnd()) {
                throw new Malformed("not valid Avro for schema id " + id + ": bytes left after the record");
            }
        } catch (Malformed e) {
            throw e;
        } catch (Exception e) {
            // Truncated or corrupt Avro surfaces as EOFException, AvroRuntimeException,
            // ArrayIndexOutOfBounds or NegativeArraySize: all are bad bytes, none is an outage.
            throw new Malformed("not valid Avro for schema id " + id + ": " + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()));
        }
        return GenericRowData.of(record.get(0), string(record.get(1)), string(record.get(2)), null);
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
                reader = new Reader(null, "schema id " + id + " cannot be read as ksql.pageviews: "
                        + compatibility.getResult().getIncompatibilities(), Long.MAX_VALUE);
            } else {
                reader = new Reader(new GenericDatumReader<>(writer, READER_SCHEMA), null, Long.MAX_VALUE);
            }
        } catch (SchemaRegistryClient.UnknownSchema e) {
            reader = new Reader(null, e.getMessage(), System.currentTimeMillis() + UNKNOWN_ID_RETRY_MILLIS);
        } catch (AvroRuntimeException e) {
            reader = new Reader(null, "schema id " + id + " cannot be read as ksql.pageviews: " + e.getMessage(),
                    Long.MAX_VALUE);
        }
        readers.put(id, reader);
        return reader;
    }

    private static StringData string(Object value) {
        if (value instanceof Utf8) {
            Utf8 utf8 = (Utf8) value;
            // The reader reuses the Utf8 buffer for the next record: copy the bytes out.
            return StringData.fromBytes(Arrays.copyOf(utf8.getBytes(), utf8.getByteLength()));
        }
        return value == null ? null : StringData.fromBytes(value.toString().getBytes(StandardCharsets.UTF_8));
    }
}
