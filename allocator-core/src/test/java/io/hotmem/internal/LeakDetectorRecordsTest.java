package io.hotmem.internal;

import io.hotmem.LeakDetection;
import io.hotmem.LeakReport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The records of tracked allocations ({@link LeakDetector}) against a real {@link HandleTable}: at SAMPLED a free
 * leaves its record and the sweeps keep the map bounded; a record counts only while its handle is live and
 * tracked, also after the slot's generation came round to the handle's again; at PARANOID only the free removes one.
 */
class LeakDetectorRecordsTest {
    private final HandleTable table = new HandleTable();

    @AfterEach
    void releaseTag() {
        table.releaseTag();
    }

    /** Publishes an allocation of {@code size} bytes in {@code slot}, tracked or not, as the allocation paths do. */
    private long publish(int slot, long size, boolean tracked) {
        return HandleProtocol.publish(table, slot, HandleLayout.location(0, slot), size,
                tracked ? HandleLayout.FLAG_TRACKED : 0);
    }

    private void free(long h) {
        HandleProtocol.free(table.chunk(h), HandleLayout.base(h), h);
    }

    @Test
    void sampledFreesLeaveRecordsThatTheSweepsBound() {
        LeakDetector leaks = new LeakDetector("t", LeakDetection.SAMPLED);
        int slot = table.acquireSlot();
        int max = 0;
        for (int i = 0; i < 100_000; i++) {
            long h = publish(slot, 4096, true);
            leaks.track(h, 4096, LeakDetector.site(), table);
            free(h);
            max = Math.max(max, leaks.records());
        }
        // Nothing stays live: the map never holds more than the sweep threshold's floor.
        assertTrue(max <= 1024, "records reached " + max);
        assertEquals(0, leaks.report(table).liveAllocations().size());
        assertEquals(0, leaks.records(), "the report removes the freed records it meets at SAMPLED");
    }

    @Test
    void sampledSweepsKeepEveryLiveRecord() {
        LeakDetector leaks = new LeakDetector("t", LeakDetection.SAMPLED);
        int live = 3000; // past two sweep thresholds
        for (int i = 0; i < live; i++) {
            int slot = table.acquireSlot();
            long h = publish(slot, 100, true);
            leaks.track(h, 100, LeakDetector.site(), table);
            long g = publish(table.acquireSlot(), 7, true); // a short-lived one beside it
            leaks.track(g, 7, LeakDetector.site(), table);
            free(g);
        }
        assertTrue(leaks.records() <= 2 * live + 1024, "records " + leaks.records());
        LeakReport r = leaks.report(table);
        assertEquals(live, r.liveAllocations().stream().mapToLong(LeakReport.Site::count).sum());
        assertEquals(100L * live, r.liveAllocations().stream().mapToLong(LeakReport.Site::bytes).sum());
        assertEquals(live, leaks.records());
    }

    @Test
    void aRecordDoesNotCountForALaterUntrackedAllocationWithTheSameHandle() {
        LeakDetector leaks = new LeakDetector("t", LeakDetection.SAMPLED);
        int slot = table.acquireSlot();
        long h = publish(slot, 4096, true);
        leaks.track(h, 4096, LeakDetector.site(), table);
        free(h);
        // The slot's generation comes round to h's again (2^28 frees later): the same handle, another allocation.
        long[] c = table.chunk(h);
        int base = HandleLayout.base(h);
        HandleTable.soState(c, base, HandleLayout.freeState(HandleLayout.genOfHandle(h)));
        long again = publish(slot, 64, false);
        assertEquals(h, again);
        assertTrue(table.isLive(h));
        assertEquals(0, leaks.report(table).liveAllocations().size(), "an untracked allocation has no site");
        // A tracked one puts its own record over the old one.
        free(again);
        HandleTable.soState(c, base, HandleLayout.freeState(HandleLayout.genOfHandle(h)));
        long third = publish(slot, 64, true);
        leaks.track(third, 64, LeakDetector.site(), table);
        LeakReport r = leaks.report(table);
        assertEquals(1, r.liveAllocations().size());
        assertEquals(64, r.liveAllocations().get(0).bytes());
    }

    @Test
    void paranoidKeepsARecordUntilTheFreeRemovesIt() {
        LeakDetector leaks = new LeakDetector("t", LeakDetection.PARANOID);
        long h = publish(table.acquireSlot(), 4096, true);
        leaks.track(h, 4096, LeakDetector.site(), table);
        free(h);
        assertEquals(0, leaks.report(table).liveAllocations().size(), "a handle being freed is not listed");
        assertEquals(1, leaks.records(), "a report leaves the record of a free in progress (see untrack)");
        assertTrue(leaks.untrack(h, () -> { }, () -> { }));
        assertEquals(0, leaks.records());
    }
}
