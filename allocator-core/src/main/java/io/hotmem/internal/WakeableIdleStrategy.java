package io.hotmem.internal;

import org.agrona.concurrent.IdleStrategy;

import java.util.concurrent.locks.LockSupport;

/**
 * Parks the agent's thread for a fixed period when a round found no work, and lets {@link #wake} end the wait at
 * once, so that closing an allocator does not wait out a sleep. After {@link #stop} it no longer parks.
 */
final class WakeableIdleStrategy implements IdleStrategy {
    private final long periodNanos;
    private volatile boolean stopped;

    WakeableIdleStrategy(long periodNanos) {
        this.periodNanos = periodNanos;
    }

    @Override
    public void idle(int workCount) {
        if (workCount <= 0) {
            idle();
        }
    }

    @Override
    public void idle() {
        if (!stopped) {
            LockSupport.parkNanos(this, periodNanos);
        }
    }

    @Override
    public void reset() {
    }

    /** Ends a wait in progress of {@code thread} (null: not started yet) without stopping the strategy. */
    void wake(Thread thread) {
        if (thread != null) {
            LockSupport.unpark(thread);
        }
    }

    /** Makes every later {@link #idle} return at once and wakes {@code thread} from a wait in progress. */
    void stop(Thread thread) {
        stopped = true;
        if (thread != null) {
            LockSupport.unpark(thread);
        }
    }

    @Override
    public String alias() {
        return "wakeable";
    }
}
