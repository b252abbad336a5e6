package io.hotmem.tests;

import io.hotmem.AllocationFailedException;
import io.hotmem.PageAllocator;
import io.hotmem.Pin;

import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * One thread's churn for the tests of frees racing moves: allocates (up to {@code maxLive} live, sizes 16 B to
 * {@code maxBytes}), stamps each allocation with a value at its head and its complement at its tail, checks both
 * before freeing it (and through a long-term pin, one free in {@code pinOneIn}), until {@code stop}; then checks and
 * frees the rest. A value read back wrong, from a block the mover copied or a block given back twice, is an error;
 * an allocation that finds no room is skipped. Fixed seed.
 */
final class MovableChurn implements Runnable {
    private final PageAllocator a;
    private final long seed;
    private final long firstValue;
    private final int maxLive;
    private final int maxBytes;
    private final int flags;
    private final int node;
    private final int pinOneIn;
    private final AtomicBoolean stop;
    private final Queue<Throwable> errors;

    /**
     * @param node     the preferred node, or -1 for the default
     * @param pinOneIn a long-term pin before one free in this many; 0 for none
     */
    MovableChurn(PageAllocator a, long seed, long firstValue, int maxLive, int maxBytes, int flags, int node,
                 int pinOneIn, AtomicBoolean stop, Queue<Throwable> errors) {
        this.a = a;
        this.seed = seed;
        this.firstValue = firstValue;
        this.maxLive = maxLive;
        this.maxBytes = maxBytes;
        this.flags = flags;
        this.node = node;
        this.pinOneIn = pinOneIn;
        this.stop = stop;
        this.errors = errors;
    }

    @Override
    public void run() {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<long[]> live = new ArrayList<>();
        long next = firstValue;
        try {
            while (!stop.get()) {
                if (live.size() < maxLive && (live.isEmpty() || rnd.nextInt(3) > 0)) {
                    long size = 16 + rnd.nextInt(maxBytes - 15);
                    long h;
                    try {
                        h = node < 0 ? a.allocate(size, flags) : a.allocate(size, flags, node);
                    } catch (AllocationFailedException full) {
                        continue;
                    }
                    long v = next++;
                    a.setLong(h, 0, v);
                    a.setLong(h, size - 8, ~v);
                    live.add(new long[] {h, v, size});
                } else {
                    long[] e = live.remove(rnd.nextInt(live.size()));
                    assertEquals(e[1], a.getLong(e[0], 0), "head of a live allocation");
                    assertEquals(~e[1], a.getLong(e[0], e[2] - 8), "tail of a live allocation");
                    if (pinOneIn > 0 && rnd.nextInt(pinOneIn) == 0) {
                        try (Pin p = a.pinLongTerm(e[0])) {
                            assertEquals(e[1], p.getLong(0));
                        } catch (IllegalStateException | AllocationFailedException ok) {
                            // pinned by another thread meanwhile, or no room in NORMAL memory
                        }
                    }
                    a.free(e[0]);
                }
            }
            for (long[] e : live) {
                assertEquals(e[1], a.getLong(e[0], 0));
                a.free(e[0]);
            }
        } catch (Throwable t) {
            errors.add(t);
        }
    }
}
