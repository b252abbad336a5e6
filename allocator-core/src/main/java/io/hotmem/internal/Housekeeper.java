package io.hotmem.internal;

import org.agrona.concurrent.Agent;
import org.agrona.concurrent.AgentRunner;

import java.time.Duration;

/**
 * The allocator's background agent (the kswapd of the original prototype, which never stopped: this one does).
 * Each round, at most every {@link #periodMillis}: gives back the caches of threads that have ended, gives back
 * the caches of threads idle for the purge delay, and returns to the OS the free blocks that have stayed free for
 * the purge delay ({@link Zone#purgeLocked}, a bounded walk per zone-lock hold). Unplugged zones are skipped;
 * {@link #close()} stops the thread and waits for it.
 */
final class Housekeeper implements Agent {
    /** Page-map heads walked per zone-lock hold. */
    static final int HEADS_PER_HOLD = 4096;
    /** Most pages returned to the OS per zone-lock hold (16 MiB at 4 KiB pages). */
    static final long PAGES_PER_HOLD = 4096;
    private static final System.Logger LOG = System.getLogger("io.hotmem");

    private final DefaultPageAllocator allocator;
    private final Ticker ticker;
    private final int purgeTicks;
    final long periodMillis;
    private final WakeableIdleStrategy idle;
    private final AgentRunner runner;
    private int lastRound = Integer.MIN_VALUE;

    private Housekeeper(DefaultPageAllocator allocator, Ticker ticker, Duration purgeAfter) {
        this.allocator = allocator;
        this.ticker = ticker;
        long ms = Math.min(purgeAfter.toMillis(), Integer.MAX_VALUE / 2);
        this.purgeTicks = (int) ms;
        this.periodMillis = Math.max(10, Math.min(1000, ms / 4));
        this.idle = new WakeableIdleStrategy(periodMillis * 1_000_000L);
        this.runner = new AgentRunner(idle,
                t -> LOG.log(System.Logger.Level.WARNING, roleName() + " failed a round", t), null, this);
    }

    static Housekeeper start(DefaultPageAllocator allocator, Ticker ticker, Duration purgeAfter) {
        Housekeeper h = new Housekeeper(allocator, ticker, purgeAfter);
        AgentRunner.startOnThread(h.runner, r -> {
            Thread t = new Thread(r);
            t.setDaemon(true);
            return t;
        });
        return h;
    }

    @Override
    public int doWork() {
        int now = ticker.advance();
        if (lastRound != Integer.MIN_VALUE && now - lastRound < periodMillis) {
            return 0;
        }
        lastRound = now;
        return allocator.housekeep(now, purgeTicks);
    }

    @Override
    public String roleName() {
        return "hotmem-agent-" + allocator.name();
    }

    /** Stops the agent and waits for its thread to end. */
    void close() {
        idle.stop(runner.thread());
        runner.close();
    }
}
