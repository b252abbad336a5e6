package io.hotmem.internal;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

/**
 * An adversarial review of the unpin guard (2026-12-02): its decrement-then-undo let other threads see a broken word
 * (a live handle read as stale, a phantom pin after a mover's store); fixed by a CAS loop that checks first.
 */
class UnpinReviewDefectTest {
    private final HandleTable table = new HandleTable();

    @AfterEach
    void releaseTag() {
        table.releaseTag();
    }

    /**
     * HandleProtocol.unpin's javadoc (51a786c): an unpin of an entry with no pin "is undone at once, so the word's
     * other fields are as they were". The undo is a second getAndAdd, not a CAS: a mover's whole-word store
     * (unfreeze, publishMove: soState) that lands between the decrement and the increment is overwritten by +1,
     * leaving a phantom pin. Sequence: a mover froze the entry (pins 0, MOVING); a misused Pin's second close
     * unpins (throws, as designed); the mover abandons its move (unfreeze). Expected afterwards: the state the
     * mover restored, pins 0. Seen: pins 1 for good (the allocation can never be freed or moved).
     */
    @Test
    void anUnpinWithoutAPinRacingAnUnfreezeLeavesNoPhantomPin() throws Exception {
        long h = HandleProtocol.publish(table, table.acquireSlot(), 1, 64, 1);
        long[] c = table.chunk(h);
        int b = HandleLayout.base(h);
        long gen = HandleLayout.genOfHandle(h);
        AtomicInteger go = new AtomicInteger();   // round number the unpinner may start
        AtomicInteger done = new AtomicInteger(); // round number the unpinner finished
        AtomicReference<String> bad = new AtomicReference<>();
        final int rounds = 100_000;
        Thread unpinner = new Thread(() -> {
            for (int r = 1; r <= rounds; r++) {
                while (go.get() < r) {
                    Thread.onSpinWait();
                }
                try {
                    HandleProtocol.unpinChecked(c, b);
                } catch (IllegalStateException expected) {
                    // the misuse is reported, as designed
                }
                done.set(r);
            }
        });
        unpinner.setDaemon(true);
        unpinner.start();
        long deadline = System.nanoTime() + 3_000_000_000L;
        for (int r = 1; r <= rounds && System.nanoTime() < deadline; r++) {
            long frozen = HandleProtocol.freeze(c, b, gen, 1);
            assertNotEquals(-1L, frozen, "round " + r + ": entry not freezable: 0x"
                    + Long.toHexString(HandleTable.lvState(c, b)));
            go.set(r);
            for (int spin = r & 63; spin > 0; spin--) {
                Thread.onSpinWait(); // vary where the store lands
            }
            HandleProtocol.unfreeze(c, b, frozen);
            while (done.get() < r) {
                Thread.onSpinWait();
            }
            long s = HandleTable.lvState(c, b);
            if (s != frozen) {
                bad.set("round " + r + ": after an unfreeze to 0x" + Long.toHexString(frozen)
                        + " and a refused unpin the word is 0x" + Long.toHexString(s) + " (pins "
                        + HandleLayout.pinsOf(s) + ")");
                break;
            }
        }
        go.set(Integer.MAX_VALUE);
        unpinner.join(5_000);
        assertNull(bad.get());
    }

    /**
     * Same undo window, seen by an innocent thread: while a refused unpin's decrement is in the word (pins 0 minus
     * one borrows through MOVING and FREE into the generation), a reader or pinner of the live handle sees it FREE
     * at another generation and gets StaleHandleException (a free would too, and the allocation would leak). The
     * javadoc promises only that "a racing CAS may fail meanwhile and retry". Expected: beginRead of a live handle
     * never throws.
     */
    @Test
    void aRefusedUnpinNeverMakesALiveHandleLookStale() throws Exception {
        long h = HandleProtocol.publish(table, table.acquireSlot(), 1, 64, 1);
        long[] c = table.chunk(h);
        int b = HandleLayout.base(h);
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Thread misuser = new Thread(() -> {
            while (!stop.get()) {
                try {
                    HandleProtocol.unpinChecked(c, b); // a Pin closed twice: refused, as designed
                } catch (IllegalStateException expected) {
                    // reported
                }
            }
        });
        misuser.setDaemon(true);
        misuser.start();
        String seen = null;
        long deadline = System.nanoTime() + 2_000_000_000L;
        try {
            while (seen == null && System.nanoTime() < deadline) {
                try {
                    HandleProtocol.beginRead(c, b, h);
                } catch (io.hotmem.StaleHandleException e) {
                    seen = e.getMessage();
                }
            }
        } finally {
            stop.set(true);
            misuser.join(5_000);
        }
        assertNull(seen, "a live handle read as stale while another thread's unpin was refused");
    }
}
