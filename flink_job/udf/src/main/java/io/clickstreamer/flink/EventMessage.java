package io.clickstreamer.flink;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;

/**
 * The {@code clickstream.events} message of docs/data-contract.md, as UTF-8 JSON bytes, and its
 * record key, from a page view row {@code (kafka_partition INT, kafka_offset BIGINT, event_time
 * TIMESTAMP_LTZ(3), viewtime BIGINT, user_id STRING, page_id STRING)}:
 * {@code {"kafka_partition":0,"kafka_offset":41,"event_time":"2026-11-28 13:05:07.250",
 * "viewtime":411,"user_id":"User_3","page_id":"Page_17"}} (event_time in UTC, millisecond text)
 * and {@code 0|41}.
 *
 * <p>Written once per page view, so it writes bytes straight into one growing buffer: no
 * intermediate strings, the date text re-rendered only when the second changes. Not thread-safe:
 * one instance per function or operator instance.
 */
final class EventMessage {

    private static final byte[] HEX = "0123456789abcdef".getBytes();
    private static final byte[] NULL = "null".getBytes();
    private static final long[] POWERS_OF_TEN = new long[19];

    static {
        POWERS_OF_TEN[0] = 1;
        for (int i = 1; i < POWERS_OF_TEN.length; i++) {
            POWERS_OF_TEN[i] = POWERS_OF_TEN[i - 1] * 10;
        }
    }

    private byte[] buffer = new byte[256];
    private long cachedSecond = Long.MIN_VALUE;
    private byte[] cachedSecondText;

    /** The JSON object; a null field is written as JSON null. */
    byte[] json(RowData view) {
        int at = 0;
        at = ascii(at, "{\"kafka_partition\":");
        at = view.isNullAt(0) ? bytes(at, NULL) : number(at, view.getInt(0));
        at = ascii(at, ",\"kafka_offset\":");
        at = view.isNullAt(1) ? bytes(at, NULL) : number(at, view.getLong(1));
        at = ascii(at, ",\"event_time\":");
        at = view.isNullAt(2) ? bytes(at, NULL) : timestamp(at, view.getTimestamp(2, 3).getMillisecond());
        at = ascii(at, ",\"viewtime\":");
        at = view.isNullAt(3) ? bytes(at, NULL) : number(at, view.getLong(3));
        at = ascii(at, ",\"user_id\":");
        at = view.isNullAt(4) ? bytes(at, NULL) : string(at, view.getString(4));
        at = ascii(at, ",\"page_id\":");
        at = view.isNullAt(5) ? bytes(at, NULL) : string(at, view.getString(5));
        at = ascii(at, "}");
        return Arrays.copyOf(buffer, at);
    }

    /** The record key: the dedup key (kafka_partition, kafka_offset) joined by `|`. */
    StringData key(RowData view) {
        int at = view.isNullAt(0) ? ascii(0, "null") : number(0, view.getInt(0));
        at = ascii(at, "|");
        at = view.isNullAt(1) ? ascii(at, "null") : number(at, view.getLong(1));
        return StringData.fromBytes(Arrays.copyOf(buffer, at));
    }

    private void ensure(int at, int more) {
        if (at + more > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, at + more));
        }
    }

    private int ascii(int at, String text) {
        ensure(at, text.length());
        for (int i = 0; i < text.length(); i++) {
            buffer[at++] = (byte) text.charAt(i);
        }
        return at;
    }

    private int bytes(int at, byte[] text) {
        ensure(at, text.length);
        System.arraycopy(text, 0, buffer, at, text.length);
        return at + text.length;
    }

    private int number(int at, long value) {
        if (value == Long.MIN_VALUE) {
            return ascii(at, Long.toString(value));
        }
        ensure(at, 20);
        if (value < 0) {
            buffer[at++] = '-';
            value = -value;
        }
        int digits = 1;
        while (digits < 19 && value >= POWERS_OF_TEN[digits]) {
            digits++;
        }
        int i = at + digits;
        // Two digits per division, in int arithmetic once the value fits.
        while (value > Integer.MAX_VALUE) {
            long quotient = value / 100;
            int pair = (int) (value - quotient * 100);
            buffer[--i] = (byte) ('0' + pair % 10);
            buffer[--i] = (byte) ('0' + pair / 10);
            value = quotient;
        }
        int rest = (int) value;
        while (rest >= 100) {
            int quotient = rest / 100;
            int pair = rest - quotient * 100;
            buffer[--i] = (byte) ('0' + pair % 10);
            buffer[--i] = (byte) ('0' + pair / 10);
            rest = quotient;
        }
        if (rest >= 10) {
            buffer[--i] = (byte) ('0' + rest % 10);
            rest /= 10;
        }
        buffer[--i] = (byte) ('0' + rest);
        return at + digits;
    }

    private int timestamp(int at, long millis) {
        long second = Math.floorDiv(millis, 1000L);
        if (second != cachedSecond) {
            LocalDateTime t = LocalDateTime.ofEpochSecond(second, 0, ZoneOffset.UTC);
            cachedSecondText = String.format("\"%04d-%02d-%02d %02d:%02d:%02d.", t.getYear(), t.getMonthValue(),
                    t.getDayOfMonth(), t.getHour(), t.getMinute(), t.getSecond()).getBytes();
            cachedSecond = second;
        }
        ensure(at, cachedSecondText.length + 4);
        System.arraycopy(cachedSecondText, 0, buffer, at, cachedSecondText.length);
        at += cachedSecondText.length;
        int ms = (int) Math.floorMod(millis, 1000L);
        buffer[at++] = (byte) ('0' + ms / 100);
        buffer[at++] = (byte) ('0' + ms / 10 % 10);
        buffer[at++] = (byte) ('0' + ms % 10);
        buffer[at++] = '"';
        return at;
    }

    /** A JSON string from UTF-8 bytes: quotes, backslashes and control characters escaped. */
    private int string(int at, StringData value) {
        int length;
        byte[] source;
        int from;
        if (value instanceof BinaryStringData && ((BinaryStringData) value).getSegments().length == 1) {
            BinaryStringData binary = (BinaryStringData) value;
            MemorySegment segment = binary.getSegments()[0];
            length = binary.getSizeInBytes();
            if (segment.isOffHeap()) {
                source = new byte[length];
                segment.get(binary.getOffset(), source, 0, length);
                from = 0;
            } else {
                source = segment.getArray();
                from = binary.getOffset();
            }
        } else {
            source = value.toBytes();
            length = source.length;
            from = 0;
        }
        ensure(at, length * 6 + 2);
        buffer[at++] = '"';
        for (int i = from; i < from + length; i++) {
            byte b = source[i];
            if (b == '"' || b == '\\') {
                buffer[at++] = '\\';
                buffer[at++] = b;
            } else if (b >= 0 && b < 0x20) {
                buffer[at++] = '\\';
                buffer[at++] = 'u';
                buffer[at++] = '0';
                buffer[at++] = '0';
                buffer[at++] = HEX[b >> 4];
                buffer[at++] = HEX[b & 0xf];
            } else {
                buffer[at++] = b;
            }
        }
        buffer[at++] = '"';
        return at;
    }
}
