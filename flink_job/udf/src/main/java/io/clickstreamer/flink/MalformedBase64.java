package io.clickstreamer.flink;

import org.apache.flink.metrics.Counter;
import org.apache.flink.table.functions.FunctionContext;
import org.apache.flink.table.functions.ScalarFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.Base64;

/**
 * {@code MALFORMED_BASE64(payload BYTES, error STRING)}: the base64 text of a record that
 * DecodePageviews could not decode, for {@code clickstream.malformed}. It is called once per
 * malformed record (only on the malformed branch), so it also counts them: the operator metric
 * {@code malformedRecords} (Flink UI / REST: the malformed sink's vertex), and a log line for the
 * first ten and every 10,000th.
 */
public final class MalformedBase64 extends ScalarFunction {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(MalformedBase64.class);

    private transient Counter malformed;

    @Override
    public void open(FunctionContext context) {
        malformed = context.getMetricGroup().counter("malformedRecords");
    }

    /** It counts: the planner must neither fold nor repeat a call. */
    @Override
    public boolean isDeterministic() {
        return false;
    }

    public String eval(byte[] payload, String error) {
        long seen = malformed.getCount();
        malformed.inc();
        if (seen < 10 || seen % 10_000 == 0) {
            LOG.warn("malformed pageviews record #{} kept aside: {}", seen + 1, error);
        }
        return payload == null ? null : Base64.getEncoder().encodeToString(payload);
    }
}
