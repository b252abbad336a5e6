package io.hotmem.internal;

/**
 * A coarse clock in milliseconds since the allocator was built, read on every free under a zone lock (where
 * {@link System#nanoTime()} would cost more than the free). {@link #advance()} is called by the background agent
 * on every round; without the agent the clock stands still, and nothing purges anyway.
 * Ticks wrap after about 24 days; ages are compared by subtraction, so only an age above that is misread.
 */
final class Ticker {
    private final long startNanos = System.nanoTime();
    private volatile int now = 1;

    /** @return the current tick, never 0 (0 marks a purged block) */
    int now() {
        return now;
    }

    /** Reads the real clock into the tick. */
    int advance() {
        int t = (int) ((System.nanoTime() - startNanos) / 1_000_000L);
        if (t == 0) {
            t = 1;
        }
        now = t;
        return t;
    }
}
