package io.hotmem.internal;

import io.hotmem.AllocFlags;
import io.hotmem.PageAllocator;
import org.junit.jupiter.api.Test;

import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Sixth review (261a0c5: StuckScopes, the deferred give-back straight to the zone, {@code Zone#heldByOperations}
 * and unplug's message). The harness is FifthReviewDefectTest's: the real {@code Allocation#freeParanoid} driven
 * into the window between its two scope closes by a record monitor hold plus a MOVING bit.
 *
 * <p>Both findings are about {@code heldByOperations} not moving together with the zone's used heads: unplug reads
 * the two under the node's zone locks, but the count is raised before {@code untrack} knows whether an operation
 * holds the scope, and lowered before the deferred give-back's {@code Zone#free} takes the zone lock. Now the count
 * is raised only for a deferred give-back ({@code Zone#holdForOperation}, from inside untrack) and lowered in the
 * same zone-lock hold as the block's free ({@code Zone#freeHeld}).
 */
class SixthReviewDefectTest {
    private static final long WAIT_NANOS = ParanoidFreeWindow.WAIT_NANOS;

    private final ParanoidFreeWindow window = new ParanoidFreeWindow();
    private static final int BYTES = 64 << 10; // 16 pages

    /**
     * The deferred give-back ({@code Allocation#freeParanoid}'s lambda) lowers {@code heldByOperations} first, then
     * calls {@code giveBackToZone}, whose {@code Zone#free} waits for the zone lock. An unplug that holds the node's
     * zone locks meanwhile (as unplug itself does, or anything else holding the zone lock: here the test) reads one
     * used head and no held one, and says the node "holds 1 live allocation (free or drain them first)": the very
     * message the fifth review's fix was for, about a block the program freed and whose I/O has ended.
     */
    @Test
    void aDeferredGiveBackInFlightIsReportedAsALiveAllocationByUnplug() throws Exception {
        try (PageAllocator a = ParanoidFreeWindow.twoNodes("rev6-giveback")) {
            long h = a.allocate(BYTES, AllocFlags.THISNODE, 1);
            assertEquals(1, a.nodeOf(h));
            AllocatorContext ctx = ParanoidFreeWindow.field(a, DefaultPageAllocator.class, "ctx");
            Zone z = ctx.topology.zones[1];
            HeldInIo io = window.freeWithSegmentTakenInTheWindow(a, h);
            assertEquals(null, window.lastFreeFailure(), "the free went through");
            assertEquals(1, held(z), "precondition: the block is deferred");
            a.disable(1);
            IllegalStateException e;
            z.lock.lock();
            try {
                io.close(); // the I/O ends: the retry closes the scope and runs the give-back
                Thread retrier = awaitThreadIn("hotmem-late-release", "freeHeld", Zone.class.getName());
                assertEquals(1, held(z), "the give-back lowered the count before its free");
                e = assertThrows(IllegalStateException.class, () -> a.unplug(1),
                        "the block is still a used head: the node cannot go yet (" + retrier.getState() + ")");
            } finally {
                z.lock.unlock();
            }
            assertEquals(0, ParanoidFreeWindow.awaitActivePages(a, 1, 0), "the freed block came back");
            a.unplug(1);
            a.checkInvariants();
            assertFalse(e.getMessage().contains("live allocation"), "every allocation of node 1 was freed and the "
                    + "I/O on the last one ended, yet unplug says: \"" + e.getMessage() + "\"");
        }
    }

    /**
     * {@code heldByOperations} is raised before {@code untrack} and lowered after it, for every tracked free, not
     * only the ones an operation holds. An unplug while an ordinary PARANOID free (no segment, no I/O anywhere)
     * stands inside {@code untrack} (here at the record's monitor, which {@code segment(h)}, a report and the
     * retries take; the scope close inside it is a handshake with every thread) says the node holds "1 freed block
     * that blocking I/O still uses through segment(h) (PARANOID: given back once the I/O ends)": there is no I/O,
     * and no segment of it was ever taken.
     */
    @Test
    void anOrdinaryFreeInFlightIsReportedAsAFreedBlockHeldByBlockingIo() throws Exception {
        try (PageAllocator a = ParanoidFreeWindow.twoNodes("rev6-plain")) {
            long h = a.allocate(BYTES, AllocFlags.THISNODE, 1);
            assertEquals(1, a.nodeOf(h));
            a.disable(1);
            AllocatorContext ctx = ParanoidFreeWindow.field(a, DefaultPageAllocator.class, "ctx");
            Zone z = ctx.topology.zones[1];
            Thread freer = window.freer(a, h);
            ParanoidFreeWindow.Stopped stopped = ParanoidFreeWindow.stopAfterFirstClose(a, h, freer);
            IllegalStateException e;
            synchronized (stopped.record()) {
                stopped.resume();
                ParanoidFreeWindow.awaitInStack(freer, "untrack", Thread.State.BLOCKED);
                assertEquals(0, held(z), "raised before untrack, without any I/O");
                e = assertThrows(IllegalStateException.class, () -> a.unplug(1), "the free has not given the block back");
            }
            freer.join(TimeUnit.SECONDS.toMillis(5));
            assertFalse(freer.isAlive(), "the free did not return");
            assertEquals(null, window.lastFreeFailure());
            assertEquals(0, held(z));
            a.unplug(1);
            a.checkInvariants();
            assertFalse(e.getMessage().contains("blocking I/O"), "no segment of the block was ever taken and no I/O "
                    + "runs, yet unplug says: \"" + e.getMessage() + "\"");
        }
    }

    /** The zone's count of freed blocks an operation holds, read under its lock. */
    private static int held(Zone z) {
        z.lock.lock();
        try {
            return z.heldByOperationsLocked();
        } finally {
            z.lock.unlock();
        }
    }

    /** @return the live thread named {@code name} once its stack is in {@code cls.method} */
    private static Thread awaitThreadIn(String name, String method, String cls) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (true) {
            for (Map.Entry<Thread, StackTraceElement[]> t : Thread.getAllStackTraces().entrySet()) {
                if (!t.getKey().getName().equals(name)) {
                    continue;
                }
                for (StackTraceElement e : t.getValue()) {
                    if (e.getClassName().equals(cls) && e.getMethodName().equals(method)
                            && t.getKey().getState() != Thread.State.RUNNABLE) {
                        return t.getKey();
                    }
                }
            }
            if (System.nanoTime() > deadline) {
                fail(name + " never waited in " + cls + "." + method);
            }
            Thread.sleep(1);
        }
    }
}
