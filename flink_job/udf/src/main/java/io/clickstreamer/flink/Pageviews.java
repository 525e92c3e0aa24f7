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

import java.util.Collections;
import java.util.Map;
import java.util.WeakHashMap;

import static org.apache.flink.table.api.Expressions.$;

/**
 * The job's Java operators ({@link DecodePageviews}, {@link PageviewInsights}) between Tables, for
 * flink_job/job.py, which calls {@link #decode} and {@link #insights} through the Py4J gateway
 * (PyFlink cannot put a Java operator between two Tables itself).
 *
 * <p>Rows stay Flink's internal rows through every conversion, so nothing is copied into Java
 * objects. A Table returned here that goes straight back in (the decoded page views into
 * {@link #insights}) is joined to its operator directly, without a conversion round trip (and its
 * pooled ids are looked up by instance); any other Table is converted. Every Table returned has its time column as a rowtime attribute
 * carrying the input's watermarks.
 */
public final class Pageviews {

    /** Input of {@link DecodePageviews}. */
    static final DataType RAW = DataTypes.ROW(
            DataTypes.FIELD("kafka_partition", DataTypes.INT()),
            DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(3)),
            DataTypes.FIELD("payload", DataTypes.BYTES()));
    /** Page views: output of {@link DecodePageviews}, input of {@link PageviewInsights}. */
    static final DataType VIEWS = DataTypes.ROW(
            DataTypes.FIELD("kafka_partition", DataTypes.INT()),
            DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(3)),
            DataTypes.FIELD("viewtime", DataTypes.BIGINT()),
            DataTypes.FIELD("user_id", DataTypes.STRING()),
            DataTypes.FIELD("page_id", DataTypes.STRING()));
    static final DataType MALFORMED = DataTypes.ROW(
            DataTypes.FIELD("kafka_partition", DataTypes.INT()),
            DataTypes.FIELD("kafka_offset", DataTypes.BIGINT()),
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(3)),
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
            DataTypes.FIELD("event_time", DataTypes.TIMESTAMP_LTZ(3)));

    static final InternalTypeInfo<RowData> VIEWS_TYPE = InternalTypeInfo.of(VIEWS.getLogicalType());
    static final InternalTypeInfo<RowData> MALFORMED_TYPE = InternalTypeInfo.of(MALFORMED.getLogicalType());
    static final InternalTypeInfo<RowData> MESSAGE_TYPE = InternalTypeInfo.of(MESSAGE.getLogicalType());
    static final InternalTypeInfo<RowData> PARTIAL_TYPE = InternalTypeInfo.of(PARTIAL.getLogicalType());

    /** Tables returned by {@link #decode}, with the stream behind them. */
    private static final Map<Table, DataStream<RowData>> STREAMS = Collections.synchronizedMap(new WeakHashMap<>());

    private Pageviews() {}

    /**
     * @param raw a table with (at least) the columns of {@link #RAW}, {@code event_time} being its
     *     rowtime attribute
     * @return {page views ({@link #VIEWS}), malformed records ({@link #MALFORMED})}
     */
    public static Table[] decode(StreamTableEnvironment tEnv, Table raw, String registryUrl) {
        SingleOutputStreamOperator<RowData> views = apply(
                stream(tEnv, raw, RAW), "DecodePageviews", VIEWS_TYPE, new DecodePageviews(registryUrl));
        Table viewsTable = table(tEnv, views, VIEWS, "event_time");
        STREAMS.put(viewsTable, views);
        return new Table[] {viewsTable, table(tEnv, views.getSideOutput(DecodePageviews.MALFORMED), MALFORMED, null)};
    }

    /**
     * @param views page views: a table with (at least) the columns of {@link #VIEWS},
     *     {@code event_time} being its rowtime attribute
     * @param maxMessageBytes the size of a {@code clickstream.events} message (views per message)
     * @return {the {@code clickstream.events} records ({@link #MESSAGE}), per-minute partials,
     *     session partials (both {@link #PARTIAL})}; see {@link PageviewInsights}
     */
    public static Table[] insights(StreamTableEnvironment tEnv, Table views, long sessionGapMillis, long windowMillis,
                                   int maxMessageBytes) {
        DataStream<RowData> decoded = STREAMS.get(views);
        DataStream<RowData> input = decoded != null ? decoded : stream(tEnv, views, VIEWS);
        SingleOutputStreamOperator<RowData> messages = apply(input, "PageviewInsights", MESSAGE_TYPE,
                new PageviewInsights(sessionGapMillis, windowMillis, maxMessageBytes, decoded != null));
        return new Table[] {
            table(tEnv, messages, MESSAGE, null),
            table(tEnv, messages.getSideOutput(PageviewInsights.MINUTES), PARTIAL, "event_time"),
            table(tEnv, messages.getSideOutput(PageviewInsights.SESSIONS), PARTIAL, "event_time"),
        };
    }

    /** The table's columns of `type`, in its order, as a stream of internal rows. */
    private static DataStream<RowData> stream(StreamTableEnvironment tEnv, Table table, DataType type) {
        Expression[] columns = DataType.getFieldNames(type).stream().map(name -> $(name)).toArray(Expression[]::new);
        return tEnv.toDataStream(table.select(columns), type.bridgedTo(RowData.class));
    }

    private static SingleOutputStreamOperator<RowData> apply(
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
