package io.clickstreamer.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.table.data.RowData;

/**
 * The one place where a per-minute partial ({@link PageviewInsights#MINUTES}) is found late: it
 * drops the partials whose minute its watermark has closed, counts their views
 * ({@value #LATE_VIEWS_METRIC}), passes on the others, and never tells the windows after it that
 * it is idle.
 *
 * <p>Why (issue 19): Flink lets an operator whose inputs are all idle report itself idle, and an
 * operator after it then follows the watermark of its other inputs alone. When traffic resumes
 * after every source was idle, each subtask of the first window level comes back when its first
 * input does; a second-level subtask that hears from one of them first fires the minute with that
 * one's share and drops the rest as late. Placed after an all-to-all exchange from every source
 * subtask, each subtask of this operator sees every source's watermark and idleness, and so
 * computes the same watermarks as the others; the windows after it wait for all of them (none is
 * ever idle), so their watermark is never ahead of the one that let a partial through here, and
 * they drop nothing. Only the sources are idle, where idleness belongs: a silent partition still
 * does not hold the windows back.
 *
 * <p>Input and output {@link Pageviews#PARTIAL}; records keep their timestamps.
 */
public final class MinuteLateness extends AbstractStreamOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {

    private static final long serialVersionUID = 1L;

    /** Views in partials dropped as late: their minute had closed when they arrived. */
    public static final String LATE_VIEWS_METRIC = "lateViews";

    private final long minuteMillis;

    private transient Counter lateViews;
    private transient long watermark;

    public MinuteLateness(long minuteMillis) {
        if (minuteMillis < 1) {
            throw new IllegalArgumentException("the window size must be positive: " + minuteMillis);
        }
        this.minuteMillis = minuteMillis;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    public void open() throws Exception {
        super.open();
        lateViews = getMetricGroup().counter(LATE_VIEWS_METRIC);
        watermark = Long.MIN_VALUE;
    }

    @Override
    public void processElement(StreamRecord<RowData> element) throws Exception {
        RowData partial = element.getValue();
        long time = partial.getTimestamp(Pageviews.PARTIAL_EVENT_TIME, Pageviews.TIME_PRECISION).getMillisecond();
        long minuteEnd = (Math.floorDiv(time, minuteMillis) + 1) * minuteMillis;
        // A tumbling window fires, and drops what comes after, once the watermark reaches end - 1.
        if (minuteEnd - 1 <= watermark) {
            lateViews.inc(partial.getLong(Pageviews.PARTIAL_VIEWS));
        } else {
            output.collect(element);
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        watermark = mark.getTimestamp();
        super.processWatermark(mark);
    }

    @Override
    public void processWatermarkStatus(WatermarkStatus status) {
        // Never forwarded: the output stays active (see the class comment). When every input is
        // idle, Flink has already forwarded the highest watermark of them all.
    }
}
