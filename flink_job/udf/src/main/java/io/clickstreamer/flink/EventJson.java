package io.clickstreamer.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.Arrays;

/**
 * {@code EVENT_JSON(kafka_partition, kafka_offset, event_time, viewtime, user_id, page_id)}: the
 * {@code clickstream.events} message of docs/data-contract.md, as UTF-8 JSON bytes:
 * {@code {"kafka_partition":0,"kafka_offset":41,"event_time":"2026-11-28 13:05:07.250",
 * "viewtime":411,"user_id":"User_3","page_id":"Page_17"}} (event_time in UTC, millisecond text).
 *
 * <p>Why Java: this message is written once per page view, and rendering it through SQL string
 * casts plus Flink's JSON format (a Jackson tree per row) was the largest single cost of the job.
 * The aggregate topics, one row per window, keep Flink's JSON format.
 */
public final class EventJson extends ScalarFunction {

    private static final long serialVersionUID = 1L;
    private static final byte[] HEX = "0123456789abcdef".getBytes();

    private transient byte[] buffer;
    private transient long cachedSecond;
    private transient byte[] cachedSecondText;

    @Override
    public void open(FunctionContext context) {
        buffer = new byte[256];
        cachedSecond = Long.MIN_VALUE;
    }

    public byte[] eval(
            Integer kafkaPartition,
            Long kafkaOffset,
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData eventTime,
            Long viewtime,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData userId,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData pageId) {
        int at = 0;
        at = ascii(at, "{\"kafka_partition\":");
        at = number(at, kafkaPartition == null ? null : kafkaPartition.longValue());
        at = ascii(at, ",\"kafka_offset\":");
        at = number(at, kafkaOffset);
        at = ascii(at, ",\"event_time\":");
        at = timestamp(at, eventTime);
        at = ascii(at, ",\"viewtime\":");
        at = number(at, viewtime);
        at = ascii(at, ",\"user_id\":");
        at = string(at, userId);
        at = ascii(at, ",\"page_id\":");
        at = string(at, pageId);
        at = ascii(at, "}");
        return Arrays.copyOf(buffer, at);
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

    private int number(int at, Long value) {
        return ascii(at, value == null ? "null" : Long.toString(value));
    }

    private int timestamp(int at, TimestampData value) {
        if (value == null) {
            return ascii(at, "null");
        }
        long millis = value.getMillisecond();
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
        if (value == null) {
            return ascii(at, "null");
        }
        byte[] bytes = value.toBytes();
        ensure(at, bytes.length * 6 + 2);
        buffer[at++] = '"';
        for (byte b : bytes) {
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
