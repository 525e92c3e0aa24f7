package io.clickstreamer.flink;

import org.apache.flink.core.memory.MemorySegment;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.binary.BinaryStringData;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;

import static io.clickstreamer.flink.Pageviews.TIME_PRECISION;
import static io.clickstreamer.flink.Pageviews.VIEW_EVENT_TIME;
import static io.clickstreamer.flink.Pageviews.VIEW_OFFSET;
import static io.clickstreamer.flink.Pageviews.VIEW_PAGE_ID;
import static io.clickstreamer.flink.Pageviews.VIEW_PARTITION;
import static io.clickstreamer.flink.Pageviews.VIEW_USER_ID;
import static io.clickstreamer.flink.Pageviews.VIEW_VIEWTIME;

/**
 * One {@code clickstream.events} message of docs/data-contract.md: the JSON objects of one or more
 * page views, one per line (ClickHouse's {@code JSONEachRow}), as UTF-8 bytes, and its record key.
 * A page view row {@code (kafka_partition INT, kafka_offset BIGINT, event_time TIMESTAMP_LTZ(3),
 * viewtime BIGINT, user_id STRING, page_id STRING)} becomes the line
 * {@code {"kafka_partition":0,"kafka_offset":41,"event_time":"2026-11-28 13:05:07.250",
 * "viewtime":411,"user_id":"User_3","page_id":"Page_17"}} (event_time in UTC, millisecond text);
 * the key is the first view's dedup key, {@code 0|41}.
 *
 * <p>Written once per page view, so it writes bytes straight into one growing buffer: no
 * intermediate strings, the date text re-rendered only when the second changes. Not thread-safe:
 * one instance per operator instance.
 */
final class EventMessage {

    private static final byte[] HEX = "0123456789abcdef".getBytes();
    private static final byte[] NULL = "null".getBytes();
    private static final byte[] PARTITION = "{\"kafka_partition\":".getBytes();
    private static final byte[] OFFSET = ",\"kafka_offset\":".getBytes();
    private static final byte[] EVENT_TIME = ",\"event_time\":".getBytes();
    private static final byte[] VIEWTIME = ",\"viewtime\":".getBytes();
    private static final byte[] USER_ID = ",\"user_id\":".getBytes();
    private static final byte[] PAGE_ID = ",\"page_id\":".getBytes();
    private static final long[] POWERS_OF_TEN = new long[19];
    /** "00", "01", ... "99": the two digits of each number below 100. */
    private static final byte[] DIGIT_PAIRS = new byte[200];

    static {
        for (int i = 0; i < 100; i++) {
            DIGIT_PAIRS[2 * i] = (byte) ('0' + i / 10);
            DIGIT_PAIRS[2 * i + 1] = (byte) ('0' + i % 10);
        }
        POWERS_OF_TEN[0] = 1;
        for (int i = 1; i < POWERS_OF_TEN.length; i++) {
            POWERS_OF_TEN[i] = POWERS_OF_TEN[i - 1] * 10;
        }
    }

    private final int maxBytes;
    private byte[] buffer;
    /** Bytes of the message so far. */
    private int length;
    private int views;
    private StringData key;
    private long cachedSecond = Long.MIN_VALUE;
    private byte[] cachedSecondText;

    /**
     * @param maxBytes a message holds as many views as fit in this many bytes (one view per
     *     message if that is less than one line; a line longer than this is a message alone)
     */
    EventMessage(int maxBytes) {
        if (maxBytes < 1) {
            throw new IllegalArgumentException("maxBytes must be positive: " + maxBytes);
        }
        this.maxBytes = maxBytes;
        this.buffer = new byte[Math.min(maxBytes, 1 << 20) + 256];
    }

    /**
     * Adds the view's line. Returns the message completed by this view when its line does not fit
     * (the view then starts the next message), otherwise null.
     */
    Completed add(RowData view) {
        int start = length;
        int at = start;
        if (views > 0) {
            ensure(at, 1);
            buffer[at++] = '\n';
        }
        at = line(at, view);
        if (views > 0 && at > maxBytes) {
            // Does not fit: the message so far goes out, this line starts the next one.
            Completed full = new Completed(key, Arrays.copyOf(buffer, start));
            int lineStart = start + 1;
            System.arraycopy(buffer, lineStart, buffer, 0, at - lineStart);
            length = at - lineStart;
            views = 1;
            key = key(view);
            return full;
        }
        if (views == 0) {
            key = key(view);
        }
        length = at;
        views++;
        return null;
    }

    /** True when the message holds no view. */
    boolean isEmpty() {
        return views == 0;
    }

    /** True when no other view can be added without completing the message. */
    boolean isFull() {
        return length >= maxBytes;
    }

    /** The message built so far (at least one view); starts an empty one. */
    Completed take() {
        Completed message = new Completed(key, Arrays.copyOf(buffer, length));
        length = 0;
        views = 0;
        key = null;
        return message;
    }

    /** A message to write: record key and value. */
    static final class Completed {
        final StringData key;
        final byte[] value;

        Completed(StringData key, byte[] value) {
            this.key = key;
            this.value = value;
        }
    }

    /** The JSON object of one view; a null field is written as JSON null. */
    private int line(int at, RowData view) {
        at = bytes(at, PARTITION);
        at = view.isNullAt(VIEW_PARTITION) ? bytes(at, NULL) : number(at, view.getInt(VIEW_PARTITION));
        at = bytes(at, OFFSET);
        at = view.isNullAt(VIEW_OFFSET) ? bytes(at, NULL) : number(at, view.getLong(VIEW_OFFSET));
        at = bytes(at, EVENT_TIME);
        at = view.isNullAt(VIEW_EVENT_TIME)
                ? bytes(at, NULL) : timestamp(at, view.getTimestamp(VIEW_EVENT_TIME, TIME_PRECISION).getMillisecond());
        at = bytes(at, VIEWTIME);
        at = view.isNullAt(VIEW_VIEWTIME) ? bytes(at, NULL) : number(at, view.getLong(VIEW_VIEWTIME));
        at = bytes(at, USER_ID);
        at = view.isNullAt(VIEW_USER_ID) ? bytes(at, NULL) : string(at, view.getString(VIEW_USER_ID));
        at = bytes(at, PAGE_ID);
        at = view.isNullAt(VIEW_PAGE_ID) ? bytes(at, NULL) : string(at, view.getString(VIEW_PAGE_ID));
        ensure(at, 1);
        buffer[at] = '}';
        return at + 1;
    }

    /** The dedup key (kafka_partition, kafka_offset) joined by `|`. */
    private static StringData key(RowData view) {
        String partition = view.isNullAt(VIEW_PARTITION) ? "null" : Integer.toString(view.getInt(VIEW_PARTITION));
        String offset = view.isNullAt(VIEW_OFFSET) ? "null" : Long.toString(view.getLong(VIEW_OFFSET));
        return StringData.fromString(partition + "|" + offset);
    }

    private void ensure(int at, int more) {
        if (at + more > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, at + more));
        }
    }

    private int bytes(int at, byte[] text) {
        ensure(at, text.length);
        System.arraycopy(text, 0, buffer, at, text.length);
        return at + text.length;
    }

    private int number(int at, long value) {
        if (value == Long.MIN_VALUE) {
            return bytes(at, Long.toString(value).getBytes());
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
            int pair = (int) (value - quotient * 100) * 2;
            buffer[--i] = DIGIT_PAIRS[pair + 1];
            buffer[--i] = DIGIT_PAIRS[pair];
            value = quotient;
        }
        int rest = (int) value;
        while (rest >= 100) {
            int quotient = rest / 100;
            int pair = (rest - quotient * 100) * 2;
            buffer[--i] = DIGIT_PAIRS[pair + 1];
            buffer[--i] = DIGIT_PAIRS[pair];
            rest = quotient;
        }
        if (rest >= 10) {
            buffer[--i] = DIGIT_PAIRS[rest * 2 + 1];
            buffer[--i] = DIGIT_PAIRS[rest * 2];
            return at + digits;
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
