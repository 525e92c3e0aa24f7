package io.clickstreamer.flink;

import org.apache.flink.table.data.StringData;

import java.util.Arrays;

/**
 * One {@link StringData} per distinct UTF-8 string: page views repeat a few thousand user and page
 * ids millions of times, so the decoder hands out the same instance for the same bytes. That saves
 * a string per field per view, and lets {@link PageviewInsights} find a user or page by identity
 * before hashing any bytes. Bounded: when full it starts over (the instances handed out stay
 * valid; only sharing is lost). Not thread-safe: one per decoder.
 */
final class StringPool {

    private final int capacity;
    private byte[][] keys;
    private StringData[] values;
    private int size;

    /** @param capacity the most strings kept (rounded up to a power of two, held at half load) */
    StringPool(int capacity) {
        this.capacity = Integer.highestOneBit(Math.max(capacity, 8) - 1) << 1;
        clear();
    }

    /** The pooled string with the bytes {@code bytes[from, from + length)}. */
    StringData intern(byte[] bytes, int from, int length) {
        int hash = 1;
        for (int i = from; i < from + length; i++) {
            hash = 31 * hash + bytes[i];
        }
        int mask = keys.length - 1;
        int slot = (hash ^ (hash >>> 16)) & mask;
        while (true) {
            byte[] key = keys[slot];
            if (key == null) {
                break;
            }
            if (key.length == length && Arrays.equals(key, 0, length, bytes, from, from + length)) {
                return values[slot];
            }
            slot = (slot + 1) & mask;
        }
        if (size == capacity) {
            clear();
            return intern(bytes, from, length);
        }
        byte[] key = Arrays.copyOfRange(bytes, from, from + length);
        keys[slot] = key;
        values[slot] = StringData.fromBytes(key);
        size++;
        return values[slot];
    }

    private void clear() {
        keys = new byte[capacity * 2][];
        values = new StringData[capacity * 2];
        size = 0;
    }
}
