package io.clickstreamer.flink;

import org.apache.flink.table.annotation.DataTypeHint;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;

/**
 * {@code EVENT_JSON(kafka_partition, kafka_offset, event_time, viewtime, user_id, page_id)}: the
 * {@code clickstream.events} message of docs/data-contract.md, as UTF-8 JSON bytes, rendered by
 * {@link EventMessage} exactly as the job's {@link PageviewInsights} operator renders it. The job
 * itself does not call it (it renders inside the operator, with no row per view in between); it is
 * the same rendering, for SQL.
 */
public final class EventJson extends ScalarFunction {

    private static final long serialVersionUID = 1L;

    private transient EventMessage message;

    @Override
    public void open(FunctionContext context) {
        message = new EventMessage();
    }

    public byte[] eval(
            Integer kafkaPartition,
            Long kafkaOffset,
            @DataTypeHint(value = "TIMESTAMP_LTZ(3)", bridgedTo = TimestampData.class) TimestampData eventTime,
            Long viewtime,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData userId,
            @DataTypeHint(value = "STRING", bridgedTo = StringData.class) StringData pageId) {
        if (message == null) {
            message = new EventMessage(); // constant folding may call eval before open
        }
        return message.json(GenericRowData.of(kafkaPartition, kafkaOffset, eventTime, viewtime, userId, pageId));
    }
}
