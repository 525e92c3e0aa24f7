package io.clickstreamer.flink;

import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.util.OutputTag;

/**
 * Splits raw {@code pageviews} records into page views and malformed records (see
 * {@link PageviewDecoder} for what is malformed and why the job reads raw bytes).
 *
 * <p>Input {@link Pageviews#RAW}: {@code (kafka_partition INT, kafka_offset BIGINT, event_time
 * TIMESTAMP_LTZ(3), payload BYTES)}. Main output {@link Pageviews#VIEWS}: {@code (kafka_partition,
 * kafka_offset, event_time, viewtime BIGINT, user_id STRING, page_id STRING)}; side output
 * {@link #MALFORMED}: {@code (kafka_partition, kafka_offset, event_time, payload, error STRING)}.
 * Exactly one output row per input row; records keep their timestamps and watermarks pass through.
 * A page view's {@code user_id} and {@code page_id} come from a {@link StringPool}: one instance per
 * id, never changed, which {@link PageviewInsights} relies on when chained to this operator.
 *
 * <p>An operator rather than a table function: one decode per record feeds every output, where
 * the planner gave each branch of a table function its own copy.
 */
public final class DecodePageviews extends AbstractStreamOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {

    private static final long serialVersionUID = 1L;

    public static final OutputTag<RowData> MALFORMED = new OutputTag<>("malformed", Pageviews.MALFORMED_TYPE);

    private final String registryUrl;

    private transient PageviewDecoder decoder;
    private transient StreamRecord<RowData> malformedRecord;

    public DecodePageviews(String registryUrl) {
        this.registryUrl = registryUrl;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    public void open() throws Exception {
        super.open();
        decoder = new PageviewDecoder(registryUrl);
        malformedRecord = new StreamRecord<>(null);
    }

    @Override
    public void processElement(StreamRecord<RowData> element) throws Exception {
        RowData raw = element.getValue();
        Object partition = raw.isNullAt(Pageviews.RAW_PARTITION) ? null : raw.getInt(Pageviews.RAW_PARTITION);
        Object offset = raw.isNullAt(Pageviews.RAW_OFFSET) ? null : raw.getLong(Pageviews.RAW_OFFSET);
        TimestampData time = raw.isNullAt(Pageviews.RAW_EVENT_TIME)
                ? null : raw.getTimestamp(Pageviews.RAW_EVENT_TIME, Pageviews.TIME_PRECISION);
        byte[] payload = raw.isNullAt(Pageviews.RAW_PAYLOAD) ? null : raw.getBinary(Pageviews.RAW_PAYLOAD);
        String error = decoder.decode(payload);
        if (error == null) {
            GenericRowData view = GenericRowData.of(partition, offset, time, decoder.viewtime, decoder.userId,
                    decoder.pageId);
            output.collect(element.replace(view));
        } else {
            GenericRowData bad = GenericRowData.of(partition, offset, time, payload, StringData.fromString(error));
            malformedRecord.replace(bad);
            if (element.hasTimestamp()) {
                malformedRecord.setTimestamp(element.getTimestamp());
            } else {
                malformedRecord.eraseTimestamp();
            }
            output.collect(MALFORMED, malformedRecord);
        }
    }
}
