package io.hotmem.internal;

import io.hotmem.LeakDetection;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Fourth review (b08c0a7, {@link LeakDetector#untrack}): a PARANOID free whose scope blocking I/O holds left the
 * record in {@code stuckScopes} and gave the block back at once; nothing but the allocator's close tried that scope
 * again, so the I/O and, after it, the stale segment read and wrote the block of its next owner. Now the block is
 * given back only once the scope closes, tried again every {@link LateRelease#PERIOD_MILLIS} ms.
 */
class FourthReviewDefectTest {
    private static final long WAIT_NANOS = 5_000_000_000L;

    private final HandleTable table = new HandleTable();
    private final AtomicInteger gaveBack = new AtomicInteger();

    @AfterEach
    void releaseTag() {
        table.releaseTag();
    }

    /**
     * README, "Use after free (PARANOID)": a segment of {@code segment(h)} used after the allocation is freed throws
     * and touches nothing, "so the block's next owner keeps its data": the block has no next owner while the I/O
     * runs, and once it ended the scope closes and only then is the block given back.
     */
    @Test
    void aStuckScopeIsClosedOnceTheIoThatHeldItEndsAndOnlyThenIsTheBlockGivenBack() throws Exception {
        try (Arena memory = Arena.ofShared()) {
            MemorySegment block = memory.allocate(64);
            LeakDetector leaks = new LeakDetector("stuck", LeakDetection.PARANOID);
            MemorySegment stale = stuckFree(leaks, block);
            awaitGivenBack(1);
            assertThrows(IllegalStateException.class, () -> stale.set(ValueLayout.JAVA_BYTE, 0, (byte) 42),
                    "a segment of a freed allocation still writes the block after the I/O that held its scope ended");
            assertEquals(0, leaks.stuckScopes());
        }
    }

    /** Every stuck free's record goes once its I/O ended: the map does not grow with them. */
    @Test
    void stuckRecordsWhoseIoEndedDoNotAccumulate() throws Exception {
        try (Arena memory = Arena.ofShared()) {
            MemorySegment block = memory.allocate(64);
            LeakDetector leaks = new LeakDetector("stuck-growth", LeakDetection.PARANOID);
            int rounds = 8;
            for (int i = 0; i < rounds; i++) {
                stuckFree(leaks, block);
                freeAnother(leaks, block);
            }
            awaitGivenBack(rounds);
            assertEquals(0, leaks.stuckScopes(), "records kept in stuckScopes after " + rounds
                    + " stuck frees whose I/O has ended");
            assertTrue(leaks.close(table), "every scope closed");
        }
    }

    /** A give-back that throws (a bug elsewhere, logged) does not stop the retries of the stuck frees after it. */
    @Test
    void aGiveBackThatThrowsDoesNotStopTheRetriesOfLaterStuckFrees() throws Exception {
        try (Arena memory = Arena.ofShared()) {
            MemorySegment block = memory.allocate(64);
            LeakDetector leaks = new LeakDetector("stuck-failing", LeakDetection.PARANOID);
            stuckFree(leaks, block, true);
            awaitGivenBack(1);
            stuckFree(leaks, block, false);
            awaitGivenBack(2);
            assertEquals(0, leaks.stuckScopes());
        }
    }

    private void awaitGivenBack(int n) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT_NANOS;
        while (gaveBack.get() < n && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertEquals(n, gaveBack.get(), "blocks given back once their I/O ended");
    }

    /**
     * A tracked allocation's segment put into blocking I/O, freed meanwhile (its scope stuck: the give-back waits),
     * then the I/O ends.
     */
    private MemorySegment stuckFree(LeakDetector leaks, MemorySegment block) throws Exception {
        return stuckFree(leaks, block, false);
    }

    /** @param failing the give-back throws (after counting itself) */
    private MemorySegment stuckFree(LeakDetector leaks, MemorySegment block, boolean failing) throws Exception {
        int slot = table.acquireSlot();
        long h = HandleProtocol.publish(table, slot, HandleLayout.location(0, slot), 64, HandleLayout.FLAG_TRACKED);
        leaks.track(h, 64, LeakDetector.site(), table);
        leaks.beforeFree(h); // the free's first close: no scope yet
        MemorySegment scoped = leaks.scoped(h, block); // a segment(h) between the free's two closes
        AtomicBoolean given = new AtomicBoolean();
        try (HeldInIo io = HeldInIo.start(scoped)) {
            HandleProtocol.free(table.chunk(h), HandleLayout.base(h), h);
            // The second close meets the held scope: the free goes through, the block waits.
            AtomicBoolean deferred = new AtomicBoolean();
            assertFalse(leaks.untrack(h, () -> deferred.set(true), () -> {
                assertTrue(deferred.get(), "given back before it was counted as deferred");
                assertTrue(given.compareAndSet(false, true), "the block was given back twice");
                table.releaseSlot(slot);
                gaveBack.incrementAndGet();
                if (failing) {
                    throw new IllegalStateException("give-back failed");
                }
            }), "the free may give the block back while the I/O holds it");
            assertTrue(deferred.get(), "a deferred give-back not counted as deferred");
            Thread.sleep(3 * LateRelease.PERIOD_MILLIS);
            assertFalse(given.get(), "the block was given back while the I/O held its segment");
        }
        return scoped;
    }

    private void freeAnother(LeakDetector leaks, MemorySegment block) {
        int slot = table.acquireSlot();
        long h = HandleProtocol.publish(table, slot, HandleLayout.location(0, slot), 64, HandleLayout.FLAG_TRACKED);
        leaks.track(h, 64, LeakDetector.site(), table);
        leaks.scoped(h, block);
        leaks.beforeFree(h);
        HandleProtocol.free(table.chunk(h), HandleLayout.base(h), h);
        Runnable never = () -> {
            throw new AssertionError("a free without a held scope gives the block back itself");
        };
        assertTrue(leaks.untrack(h, never, never));
        table.releaseSlot(slot);
    }
}
