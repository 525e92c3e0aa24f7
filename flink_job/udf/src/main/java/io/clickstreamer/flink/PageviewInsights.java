package io.clickstreamer.flink;

import org.apache.flink.api.common.operators.ProcessingTimeService.ProcessingTimeCallback;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.runtime.watermarkstatus.WatermarkStatus;
import org.apache.flink.table.data.GenericRowData;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.data.StringData;
import org.apache.flink.table.data.TimestampData;
import org.apache.flink.table.data.binary.BinaryStringData;
import org.apache.flink.util.OutputTag;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.Map;

/**
 * The per-view half of the insights: every page view becomes its line of a
 * {@code clickstream.events} message here, and is counted into partial aggregates, so that the
 * windows downstream see a few rows per user and watermark interval instead of one row per view,
 * and the Kafka producer one record per many views (the job's throughput is the cost per view;
 * see bench/flink_throughput.py).
 *
 * <p>Input {@link Pageviews#VIEWS}, from {@link DecodePageviews} (chained: its ids are pooled).
 * Main output {@link Pageviews#MESSAGE}: {@code (record_key STRING, value BYTES)}, messages of
 * the contract's JSON lines and their keys ({@link EventMessage}), each at most
 * {@code maxMessageBytes} long, written when full, at most {@link #FLUSH_MILLIS} after their first
 * view arrived, and before each checkpoint barrier (so a
 * checkpoint never covers a view that is not in the sink yet). Side outputs
 * {@link #MINUTES} and {@link #SESSIONS}, both {@link Pageviews#PARTIAL}: {@code (user_id STRING,
 * page_id STRING, views BIGINT, event_time TIMESTAMP_LTZ(3))}, the record timestamp equal to
 * {@code event_time}; the windows downstream sum {@code views} and collect distinct
 * {@code page_id}s:
 *
 * <ul>
 *   <li>{@link #MINUTES}, per (minute, page, user): the views since the last emission (at most
 *       {@link #FLUSH_MILLIS} ago), stamped with the time of one of them. A tumbling window puts
 *       it in the same minute as every view it counts, and drops it as late exactly when it
 *       would have dropped those views (they are all emitted before the watermark that followed
 *       them). A view whose minute this operator's
 *       watermark has closed already is emitted alone, at once.
 *   <li>{@link #SESSIONS}, per user: each chain of views no more than {@code gap} apart (a part of
 *       one session, whatever else arrives) as "anchor" rows at times from its last view back to
 *       its first, {@code gap} apart at most, carrying its views and pages. A session window gives
 *       an element at t the window [t, t + gap) and merges windows that touch, so the anchors'
 *       windows cover exactly the union of the views' windows, [first, last + gap), and merge
 *       with the same sessions: start, end, views and pages are those of the views themselves.
 *       The newest anchor goes first, so each older one merges into a window that is not late.
 * </ul>
 *
 * <p>Lateness is decided per view, as before: a view whose own session window [t, t + gap) is
 * already late (t + gap - 1 &lt;= watermark) is emitted alone, at once, after its user's pending
 * rows, so the session window accepts it (merging into a live session) or drops it exactly as it
 * would have; views that are not late are never late downstream, because everything pending is
 * emitted before the next watermark is forwarded, before this input is reported idle (after which
 * the windows follow the other inputs' watermarks alone), at most {@link #FLUSH_MILLIS} after it
 * came (an input back from idleness trails the others' watermark until it catches up, and the
 * windows do not wait for it meanwhile), and before each checkpoint barrier (so this operator
 * keeps no state).
 */
public final class PageviewInsights extends AbstractStreamOperator<RowData>
        implements OneInputStreamOperator<RowData, RowData> {

    private static final long serialVersionUID = 1L;

    public static final OutputTag<RowData> MINUTES = new OutputTag<>("minute-partials", Pageviews.PARTIAL_TYPE);
    public static final OutputTag<RowData> SESSIONS = new OutputTag<>("session-partials", Pageviews.PARTIAL_TYPE);

    /** Bounds the by-instance lookups. */
    private static final int MAX_BY_INSTANCE = 1 << 14;

    /** The longest a view waits in an unfinished message or partial: the sink producer's linger.ms. */
    static final long FLUSH_MILLIS = 100;

    private final long gapMillis;
    private final long minuteMillis;
    private final int maxMessageBytes;

    private transient EventMessage message;
    private transient StreamRecord<RowData> messageRecord;
    private transient boolean flushPending;
    private transient ProcessingTimeCallback flush;
    private transient Map<StringData, User> users;
    /**
     * The same users by string instance (ids are pooled: an instance is one id, never changed):
     * almost every lookup ends here without hashing bytes. Forgotten when a user is, and when full.
     */
    private transient IdentityHashMap<StringData, User> usersByInstance;
    /** Users with chains, all emitted at the next watermark. */
    private transient ArrayList<User> chained;
    /** The earliest end of a minute with views pending, or Long.MAX_VALUE. */
    private transient long nextMinuteEnd;
    private transient long watermark;
    private transient StreamRecord<RowData> partialRecord;

    /** What one user did that is not emitted yet. */
    private static final class User {
        final StringData id;
        final HashMap<StringData, Page> pages = new HashMap<>();
        /** The same pages by string instance (as {@link #usersByInstance}). */
        final IdentityHashMap<StringData, Page> pagesByInstance = new IdentityHashMap<>();
        /** Disjoint chains of views, each one part of a single session. */
        final ArrayList<Chain> chains = new ArrayList<>(2);

        User(StringData id) {
            this.id = id;
        }
    }

    private static final class Page {
        final StringData id;
        /** Views per minute (a list: rarely more than one minute is open). */
        MinuteViews minutes;
        /** The chain this page was last added to: a page is added to a chain once. */
        Chain chain;

        Page(StringData id) {
            this.id = id;
        }
    }

    private static final class Chain {
        long first;
        long last;
        long views;
        final ArrayList<Page> pages = new ArrayList<>();
    }

    /** Views of one page in one minute. */
    private static final class MinuteViews {
        final long minute;
        final long timestamp;
        long views;
        MinuteViews next;

        MinuteViews(long minute, long timestamp, MinuteViews next) {
            this.minute = minute;
            this.timestamp = timestamp;
            this.next = next;
        }
    }

    /** The input is {@link DecodePageviews}' (chained): its ids come from a {@link StringPool}. */
    public PageviewInsights(long gapMillis, long minuteMillis, int maxMessageBytes) {
        if (gapMillis < 1 || minuteMillis < 1 || maxMessageBytes < 1) {
            throw new IllegalArgumentException("gap, window size and message size must be positive: " + gapMillis
                    + ", " + minuteMillis + ", " + maxMessageBytes);
        }
        this.gapMillis = gapMillis;
        this.minuteMillis = minuteMillis;
        this.maxMessageBytes = maxMessageBytes;
        // Chained to the decoder: the point is to never serialize a row per view.
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    public void open() throws Exception {
        super.open();
        message = new EventMessage(maxMessageBytes);
        messageRecord = new StreamRecord<>(null);
        flushPending = false;
        flush = time -> {
            flushPending = false;
            emitMessage();
            // Partials too: an input back from idleness may trail the others' watermark for a
            // while, and the windows do not wait for it then; what it holds must reach them
            // within this bound, as a view of its own would have (issue 19).
            emitPartials(Long.MAX_VALUE);
        };
        users = new HashMap<>();
        usersByInstance = new IdentityHashMap<>();
        chained = new ArrayList<>();
        nextMinuteEnd = Long.MAX_VALUE;
        watermark = Long.MIN_VALUE;
        partialRecord = new StreamRecord<>(null);
    }

    @Override
    public void processElement(StreamRecord<RowData> element) throws Exception {
        RowData view = element.getValue();
        StringData userId = view.isNullAt(Pageviews.VIEW_USER_ID) ? null : view.getString(Pageviews.VIEW_USER_ID);
        StringData pageId = view.isNullAt(Pageviews.VIEW_PAGE_ID) ? null : view.getString(Pageviews.VIEW_PAGE_ID);
        long time = view.getTimestamp(Pageviews.VIEW_EVENT_TIME, Pageviews.TIME_PRECISION).getMillisecond();
        addToMessage(view);

        User user = usersByInstance.get(userId);
        if (user == null) {
            user = users.get(userId);
            if (user == null) {
                user = new User(own(userId));
                users.put(user.id, user);
            }
            rememberInstance(usersByInstance, userId, user);
        }
        Page page = user.pagesByInstance.get(pageId);
        if (page == null) {
            page = user.pages.get(pageId);
            if (page == null) {
                page = new Page(own(pageId));
                user.pages.put(page.id, page);
            }
            rememberInstance(user.pagesByInstance, pageId, page);
        }
        countMinute(user, page, time);
        if (time + gapMillis - 1 <= watermark) {
            // Late for a session of its own: the session window decides, as for any view.
            emitChains(user);
            emitSession(user.id, page.id, 1, time);
        } else {
            addToChain(user, page, time);
        }
        if (!flushPending) {
            // Whatever this view left pending (its message, its partials) goes out within the bound.
            flushPending = true;
            getProcessingTimeService().registerTimer(
                    getProcessingTimeService().getCurrentProcessingTime() + FLUSH_MILLIS, flush);
        }
    }

    /**
     * From now on {@code value} is found by the instance {@code id} (the map is bounded: it starts
     * over when full).
     */
    private static <V> void rememberInstance(IdentityHashMap<StringData, V> byInstance, StringData id, V value) {
        if (byInstance.size() >= MAX_BY_INSTANCE) {
            byInstance.clear();
        }
        byInstance.put(id, value);
    }

    private void addToMessage(RowData view) {
        EventMessage.Completed full = message.add(view);
        if (full != null) {
            writeMessage(full);
        }
        if (message.isFull()) {
            emitMessage();
        }
    }

    /** Writes the message being built, if it holds any view. */
    private void emitMessage() {
        if (!message.isEmpty()) {
            writeMessage(message.take());
        }
    }

    private void writeMessage(EventMessage.Completed completed) {
        messageRecord.replace(GenericRowData.of(completed.key, completed.value));
        output.collect(messageRecord);
    }

    private void countMinute(User user, Page page, long time) {
        long minute = Math.floorDiv(time, minuteMillis);
        if ((minute + 1) * minuteMillis - 1 <= watermark) {
            // Its minute is closed already here: out alone and at once, so that the minute
            // windows decide on it when a window over single views would have.
            emitMinute(user.id, page.id, 1, time);
            return;
        }
        MinuteViews views = page.minutes;
        while (views != null && views.minute != minute) {
            views = views.next;
        }
        if (views == null) {
            views = page.minutes = new MinuteViews(minute, time, page.minutes);
            nextMinuteEnd = Math.min(nextMinuteEnd, (minute + 1) * minuteMillis);
        }
        views.views++;
    }

    private void addToChain(User user, Page page, long time) {
        Chain joined = null;
        ArrayList<Chain> chains = user.chains;
        for (int i = 0; i < chains.size(); i++) {
            Chain chain = chains.get(i);
            if (time < chain.first - gapMillis || time > chain.last + gapMillis) {
                continue;
            }
            if (joined == null) {
                joined = chain;
            } else {
                // The view bridges two chains: they are one now.
                joined.first = Math.min(joined.first, chain.first);
                joined.last = Math.max(joined.last, chain.last);
                joined.views += chain.views;
                for (Page other : chain.pages) {
                    // (a page of both chains may be listed twice: the windows keep distinct pages)
                    if (other.chain != joined) {
                        other.chain = joined;
                        joined.pages.add(other);
                    }
                }
                chains.remove(i--);
            }
        }
        if (joined == null) {
            if (chains.isEmpty()) {
                chained.add(user);
            }
            joined = new Chain();
            joined.first = time;
            joined.last = time;
            chains.add(joined);
        } else {
            joined.first = Math.min(joined.first, time);
            joined.last = Math.max(joined.last, time);
        }
        joined.views++;
        if (page.chain != joined) {
            page.chain = joined;
            joined.pages.add(page);
        }
    }

    @Override
    public void processWatermark(Watermark mark) throws Exception {
        // What is pending was counted under the previous watermark: the windows it may change
        // must have it before they see this one.
        emitPartials(mark.getTimestamp());
        watermark = mark.getTimestamp();
        super.processWatermark(mark);
    }

    @Override
    public void processWatermarkStatus(WatermarkStatus status) throws Exception {
        if (status.isIdle()) {
            // The windows stop waiting for an idle input: what it holds must be in them first, or
            // the other inputs' watermarks would close its minutes without it (issue 19).
            emitPartials(Long.MAX_VALUE);
        }
        super.processWatermarkStatus(status);
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        // Everything, so that this operator has no state to snapshot.
        emitMessage();
        emitPartials(Long.MAX_VALUE);
        super.prepareSnapshotPreBarrier(checkpointId);
    }

    @Override
    public void finish() throws Exception {
        emitMessage();
        emitPartials(Long.MAX_VALUE);
        super.finish();
    }

    /**
     * Emits every chain (the session windows decide per element whether it is late, so chains go
     * out at every watermark, as their views would have), and the minutes that a watermark of
     * `upTo` closes (a tumbling window only cares about the watermark passing its end, like Flink's
     * own local window aggregation); forgets what it emitted.
     */
    private void emitPartials(long upTo) {
        for (User user : chained) {
            emitChains(user);
        }
        chained.clear();
        if (nextMinuteEnd - 1 > upTo) {
            return;
        }
        nextMinuteEnd = Long.MAX_VALUE;
        usersByInstance.clear();
        for (Iterator<User> users = this.users.values().iterator(); users.hasNext(); ) {
            User user = users.next();
            for (Iterator<Page> pages = user.pages.values().iterator(); pages.hasNext(); ) {
                Page page = pages.next();
                MinuteViews kept = null;
                for (MinuteViews views = page.minutes; views != null; views = views.next) {
                    long end = (views.minute + 1) * minuteMillis;
                    if (end - 1 <= upTo) {
                        emitMinute(user.id, page.id, views.views, views.timestamp);
                    } else {
                        kept = new MinuteViews(views.minute, views.timestamp, kept);
                        kept.views = views.views;
                        nextMinuteEnd = Math.min(nextMinuteEnd, end);
                    }
                }
                page.minutes = kept;
                if (kept == null) {
                    pages.remove();
                    user.pagesByInstance.clear();
                }
            }
            if (user.pages.isEmpty()) {
                users.remove();
            }
        }
    }

    /** Anchors from the last view back to the first, at most `gap` apart, newest first. */
    private void emitChains(User user) {
        for (Chain chain : user.chains) {
            StringData anyPage = null;
            long views = chain.views;
            for (Page page : chain.pages) {
                emitSession(user.id, page.id, views, chain.last);
                views = 0;
                anyPage = page.id;
            }
            for (long anchor = chain.last - gapMillis; anchor > chain.first; anchor -= gapMillis) {
                emitSession(user.id, anyPage, 0, anchor);
            }
            if (chain.first < chain.last) {
                emitSession(user.id, anyPage, 0, chain.first);
            }
        }
        user.chains.clear();
    }

    private void emitMinute(StringData userId, StringData pageId, long views, long time) {
        emitPartial(MINUTES, userId, pageId, views, time);
    }

    private void emitSession(StringData userId, StringData pageId, long views, long time) {
        emitPartial(SESSIONS, userId, pageId, views, time);
    }

    private void emitPartial(OutputTag<RowData> tag, StringData userId, StringData pageId, long views, long time) {
        partialRecord.replace(GenericRowData.of(userId, pageId, views, TimestampData.fromEpochMillis(time)), time);
        output.collect(tag, partialRecord);
    }

    /** A copy for keeping: the row's strings may live in a buffer that is reused. */
    private static StringData own(StringData value) {
        if (value instanceof BinaryStringData) {
            return ((BinaryStringData) value).copy();
        }
        return value == null ? null : StringData.fromString(value.toString());
    }
}
