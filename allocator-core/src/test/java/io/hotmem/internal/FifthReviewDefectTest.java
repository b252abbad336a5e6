package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fifth review (bcf58b6, the deferred give-back of a PARANOID free whose scope blocking I/O holds). Its third
 * finding (a give-back that throws stopped every later retry) is FourthReviewDefectTest's
 * aGiveBackThatThrowsDoesNotStopTheRetriesOfLaterStuckFrees.
 *
 * <p>The real {@code Allocation#freeParanoid} is driven into its window (between the free's two scope closes) by
 * {@link ParanoidFreeWindow#freeWithSegmentTakenInTheWindow}: the freeing thread is held at the first close (the record's monitor),
 * then kept spinning in the free's CAS loop by a MOVING bit set on the entry (as a descheduled thread would stand
 * there), while the test takes the segment ({@link LeakDetector#scoped(long, MemorySegment)}, the last step of
 * {@code segment(h)}) and puts it into a blocking pipe write; then the bit is cleared and the free completes.
 */
class FifthReviewDefectTest {
    private static final long WAIT_NANOS = ParanoidFreeWindow.WAIT_NANOS;

    private final ParanoidFreeWindow window = new ParanoidFreeWindow();
    private static final int BYTES = 64 << 10; // 16 pages

    /** The JUL logger "io.hotmem" (reflectively: this test module does not read java.logging), strongly held. */
    private Object julLogger;

    @AfterEach
    void removeFilter() throws Exception {
        if (julLogger != null) {
            Class<?> filter = Class.forName("java.util.logging.Filter");
            julLogger.getClass().getMethod("setFilter", filter).invoke(julLogger, new Object[] {null});
        }
    }

    /** A JUL filter on "io.hotmem" that throws for records whose message contains {@code marker}. */
    private void throwingLogFilter(String marker) throws Exception {
        Class<?> loggerClass = Class.forName("java.util.logging.Logger");
        Class<?> filter = Class.forName("java.util.logging.Filter");
        julLogger = loggerClass.getMethod("getLogger", String.class).invoke(null, "io.hotmem");
        Object throwing = java.lang.reflect.Proxy.newProxyInstance(filter.getClassLoader(), new Class<?>[] {filter},
                (proxy, m, args) -> {
                    if (m.getName().equals("isLoggable")) {
                        Object msg = args[0].getClass().getMethod("getMessage").invoke(args[0]);
                        if (msg != null && msg.toString().contains(marker)) {
                            throw new IllegalStateException("log handler failure");
                        }
                        return true;
                    }
                    if (m.getName().equals("hashCode")) {
                        return System.identityHashCode(proxy);
                    }
                    if (m.getName().equals("equals")) {
                        return proxy == args[0];
                    }
                    return "throwing filter";
                });
        loggerClass.getMethod("setFilter", filter).invoke(julLogger, throwing);
    }

    /**
     * README "Use after free (PARANOID)": a free that races a {@code segment(h)} put into blocking I/O "goes through,
     * but its block is given back only once that I/O ends". The warning untrack logs sits between keeping the
     * give-back in the record and scheduling the retry: a log handler (here a filter) that throws (the code guards against one in
     * close and in Zone's free, "a log handler that throws must not fail a free that is done") makes the free throw
     * although it went through (the handle is stale), and no retry is ever scheduled: the block is never given
     * back, however long after the I/O ended.
     */
    @Test
    void aThrowingLogHandlerOnTheStuckFreesWarningLosesTheBlockForGood() throws Exception {
        throwingLogFilter("rev5-log: handle");
        try (PageAllocator a = ParanoidFreeWindow.twoNodes("rev5-log")) {
            long h = a.allocate(BYTES, AllocFlags.THISNODE, 1);
            assertEquals(1, a.nodeOf(h));
            Throwable freeFailure;
            try (HeldInIo io = window.freeWithSegmentTakenInTheWindow(a, h)) {
                freeFailure = window.lastFreeFailure();
            }
            // The I/O has ended: the block should come back within a few retry periods.
            long active = ParanoidFreeWindow.awaitActivePages(a, 1, 0);
            assertEquals(0, active, "zone 1 still has " + active + " active pages " + WAIT_NANOS / 1_000_000
                    + " ms after the I/O that held the freed block's segment ended: the block was never given back "
                    + "(the free itself threw " + freeFailure + ")");
            assertEquals(null, freeFailure, "a free that went through threw");
        }
    }

    /**
     * The deferred block is counted as a live allocation of its zone: once the program freed everything on node 1,
     * unplug says the node "holds 1 live allocation (free or drain them first)" while the I/O runs; the program
     * has freed it, and a drain cannot move it (the mover finds it busy until its deadline).
     */
    @Test
    void unplugAfterEveryAllocationWasFreedTellsTheCallerToFreeOrDrainThem() throws Exception {
        try (PageAllocator a = ParanoidFreeWindow.twoNodes("rev5-unplug")) {
            long h = a.allocate(BYTES, AllocFlags.THISNODE, 1);
            assertEquals(1, a.nodeOf(h));
            try (HeldInIo io = window.freeWithSegmentTakenInTheWindow(a, h)) {
                assertEquals(null, window.lastFreeFailure(), "the free went through");
                a.disable(1);
                var drained = a.drain(1, java.time.Duration.ofMillis(300));
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> a.unplug(1),
                        "the I/O still uses the block: the node cannot go");
                assertFalse(e.getMessage().contains("live allocation"),
                        "unplug of a node none of whose allocations is live (every one freed) says: \""
                                + e.getMessage() + "\"; the drain before it: " + drained);
                assertTrue(e.getMessage().contains("1 freed block that blocking I/O still uses"), e.getMessage());
            }
            // The I/O ended: the block comes back, and the node goes.
            assertEquals(0, ParanoidFreeWindow.awaitActivePages(a, 1, 0), "the freed block came back");
            a.unplug(1);
            a.checkInvariants();
        }
    }
}
