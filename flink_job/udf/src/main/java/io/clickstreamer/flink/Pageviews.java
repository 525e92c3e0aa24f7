package io.clickstreamer.flink;

import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.Schema;
import org.apache.flink.table.api.Table;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.expressions.Expression;
import org.apache.flink.table.runtime.typeutils.InternalTypeInfo;
import org.apache.flink.table.types.DataType;

import static org.apache.flink.table.api.Expressions.$;

/**
 * The job's per-view stage, between the Kafka source table and the SQL windows: one entry point,
 * {@link #perView}, which flink_job/job.py calls once through the Py4J gateway (PyFlink cannot put
 * a Java operator between two Tables itself).
 *
 * <pre>
 * raw records ── DecodePageviews ─┬─ malformed records
 *                                 └─ PageviewInsights ─┬─ clickstream.events messages
 *                                                      ├─ minute partials ══ MinuteLateness ─ on-time partials
 *                                                      └─ session partials
 * </pre>
 *
 * ({@code ══}: all to all; every other edge is chained.) Rows stay Flink's internal rows through
 * every conversion, so nothing is copied into Java objects. Every Table returned with a time
 * column has it as a rowtime attribute carrying the input's watermarks.
 */
public final class Pageviews {

    /** Milliseconds: the precision of every time column below. */
    static final int TIME_PRECISION = 3;

    /** Input of {@link DecodePageviews}. */
    static final DataType RAW = DataTypes.ROW(
            DataTypes.FIELD("kafka_partition", DataTypes.INT()),
            DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(TIME_PRECISION)),
            DataTypes.FIELD("payload", DataTypes.BYTES()));
    /** Page views: output of {@link DecodePageviews}, input of {@link PageviewInsights}. */
    static final DataType VIEWS = DataTypes.ROW(
            DataTypes.FIELD("kafka_partition", DataTypes.INT()),
            DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(TIME_PRECISION)),
            DataTypes.FIELD("viewtime", DataTypes.BIGINT()),
            DataTypes.FIELD("user_id", DataTypes.STRING()),
            DataTypes.FIELD("page_id", DataTypes.STRING()));
    static final DataType MALFORMED = DataTypes.ROW(
            DataTypes.FIELD("kafka_partition", DataTypes.INT()),
            DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(TIME_PRECISION)),
            DataTypes.FIELD("payload", DataTypes.BYTES()),
            DataTypes.FIELD("error", DataTypes.STRING()));
    /** A {@code clickstream.events} record: key and rendered value (one or more JSON lines). */
    static final DataType MESSAGE = DataTypes.ROW(
            DataTypes.FIELD("record_key", DataTypes.STRING()),
            DataTypes.FIELD("value", DataTypes.BYTES()));
    /** Partial counts for the windows (see {@link PageviewInsights}). */
    static final DataType PARTIAL = DataTypes.ROW(
            DataTypes.FIELD("user_id", DataTypes.STRING()),
            DataTypes.FIELD("page_id", DataTypes.STRING()),
            DataTypes.FIELD("views", DataTypes.BIGINT()),
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(TIME_PRECISION)));

    // Field indexes by name, so that no operator reads a row by a bare position.
    static final int RAW_PARTITION = field(RAW, "kafka_partition");
    static final int RAW_OFFSET = field(RAW, "kafka_offset");
    static final int RAW_EVENT_TIME = field(RAW, "event_time");
    static final int RAW_PAYLOAD = field(RAW, "payload");
    static final int VIEW_PARTITION = field(VIEWS, "kafka_partition");
    static final int VIEW_OFFSET = field(VIEWS, "kafka_offset");
    static final int VIEW_EVENT_TIME = field(VIEWS, "event_time");
    static final int VIEW_VIEWTIME = field(VIEWS, "viewtime");
    static final int VIEW_USER_ID = field(VIEWS, "user_id");
    static final int VIEW_PAGE_ID = field(VIEWS, "page_id");
    static final int MESSAGE_KEY = field(MESSAGE, "record_key");
    static final int MESSAGE_VALUE = field(MESSAGE, "value");
    static final int PARTIAL_VIEWS = field(PARTIAL, "views");
    static final int PARTIAL_EVENT_TIME = field(PARTIAL, "event_time");

    static final InternalTypeInfo<RowData> VIEWS_TYPE = InternalTypeInfo.of(VIEWS.getLogicalType());
    static final InternalTypeInfo<RowData> MALFORMED_TYPE = InternalTypeInfo.of(MALFORMED.getLogicalType());
    static final InternalTypeInfo<RowData> MESSAGE_TYPE = InternalTypeInfo.of(MESSAGE.getLogicalType());
    static final InternalTypeInfo<RowData> PARTIAL_TYPE = InternalTypeInfo.of(PARTIAL.getLogicalType());

    private Pageviews() {}

    /**
     * @param raw a table with (at least) the columns of {@link #RAW}, {@code event_time} being its
     *     rowtime attribute
     * @param sessionGapMillis a session ends after this long without a view
     * @param windowMillis the size of the tumbling windows the minute partials are for
     * @param maxMessageBytes the size of a {@code clickstream.events} message (views per message)
     * @return {malformed records ({@link #MALFORMED}), the {@code clickstream.events} records
     *     ({@link #MESSAGE}), on-time minute partials, session partials (both {@link #PARTIAL})};
     *     see {@link PageviewInsights} and {@link MinuteLateness}
     */
    public static Table[] perView(StreamTableEnvironment tEnv, Table raw, String registryUrl, long sessionGapMillis,
                                  long windowMillis, int maxMessageBytes) {
        SingleOutputStreamOperator<RowData> views = chained(
                stream(tEnv, raw, RAW), "DecodePageviews", VIEWS_TYPE, new DecodePageviews(registryUrl));
        SingleOutputStreamOperator<RowData> messages = chained(views, "PageviewInsights", MESSAGE_TYPE,
                new PageviewInsights(sessionGapMillis, windowMillis, maxMessageBytes));
        // From every source subtask to every MinuteLateness subtask (see there why).
        SingleOutputStreamOperator<RowData> onTimeMinutes = messages.getSideOutput(PageviewInsights.MINUTES)
                .rebalance()
                .transform("MinuteLateness", PARTIAL_TYPE, new MinuteLateness(windowMillis))
                .setParallelism(messages.getParallelism());
        return new Table[] {
            table(tEnv, views.getSideOutput(DecodePageviews.MALFORMED), MALFORMED, null),
            table(tEnv, messages, MESSAGE, null),
            table(tEnv, onTimeMinutes, PARTIAL, "event_time"),
            table(tEnv, messages.getSideOutput(PageviewInsights.SESSIONS), PARTIAL, "event_time"),
        };
    }

    private static int field(DataType row, String name) {
        int index = DataType.getFieldNames(row).indexOf(name);
        if (index < 0) {
            throw new IllegalStateException(row + " has no field " + name);
        }
        return index;
    }

    /** The table's columns of `type`, in its order, as a stream of internal rows. */
    private static DataStream<RowData> stream(StreamTableEnvironment tEnv, Table table, DataType type) {
        Expression[] columns = DataType.getFieldNames(type).stream().map(name -> $(name)).toArray(Expression[]::new);
        return tEnv.toDataStream(table.select(columns), type.bridgedTo(RowData.class));
    }

    private static SingleOutputStreamOperator<RowData> chained(
            DataStream<RowData> input, String name, InternalTypeInfo<RowData> type,
            OneInputStreamOperator<RowData, RowData> operator) {
        // The same parallelism as the input, so that the operator chains to it: no row per view
        // crosses the network.
        return input.transform(name, type, operator).setParallelism(input.getParallelism());
    }

    private static Table table(StreamTableEnvironment tEnv, DataStream<RowData> stream, DataType type, String rowtime) {
        Schema.Builder schema = Schema.newBuilder().fromRowDataType(type);
        if (rowtime != null) {
            schema.watermark(rowtime, "SOURCE_WATERMARK()");
        }
        return tEnv.fromDataStream(stream, schema.build());
    }
}
