package io.hotmem;

import java.util.Locale;

/**
 * How closely an allocator watches for leaked pins, leaked allocations and use after free (as Netty's
 * {@code ResourceLeakDetector} levels). Set with {@link PageAllocator.Builder#leakDetection}, or without code with
 * the system property {@value #PROPERTY} ({@code disabled}, {@code sampled} or {@code paranoid}, any case), which
 * a builder reads when {@code leakDetection} was not called. What the levels find is read with
 * {@link PageAllocator#leaks()}.
 *
 * <ul>
 *   <li>A <b>pin</b> that is tracked and becomes unreachable without {@link Pin#close()} is reported once, with
 *       the stack that took it: a log line, a JFR event {@code io.hotmem.Leak}, and an entry in
 *       {@link LeakReport#leakedPins()}. Its block stays pinned (a segment taken from it may still be in use), so
 *       a drain lists it as a straggler, with the same site ({@link RelocationReport.Straggler#site()}).</li>
 *   <li>A tracked <b>allocation</b> records where it was made; {@link LeakReport#liveAllocations()} lists the
 *       live ones by site, and {@link PageAllocator#close()} logs how many allocations are still live, with the
 *       sites it knows.</li>
 * </ul>
 */
public enum LeakDetection {
    /** Nothing is tracked; the only cost is one branch per allocation and per pin. */
    DISABLED,
    /**
     * One allocation in {@value #SAMPLING_INTERVAL}, chosen at random per thread, is tracked, and so is every pin
     * of a tracked allocation (as Netty records the touches of the buffers it samples): a site is one stack
     * capture (about 1.5 us), so the cost is a fraction of a nanosecond per call on average. A leak that repeats
     * is found; a single leaked pin or allocation may go unseen. The default.
     */
    SAMPLED,
    /**
     * Every allocation and every pin is tracked (a stack capture each: a debugging level), and the segments of
     * {@link Pin#segment()} and {@link PageAllocator#segment(long)} are scoped: one used after its pin is closed,
     * or after its allocation is freed, throws {@link IllegalStateException} and touches nothing.
     */
    PARANOID;

    /**
     * One allocation in this many is tracked at {@link #SAMPLED}. Netty samples one buffer in 128; a tracked
     * allocation costs about 1 us here (its stack and record) against about 25 ns for an untracked one, so one in
     * 128 would slow allocation by a third; one in 4,096 costs about 0.2 ns per allocation (the measured cost of
     * the level is in the README's "Leak detection's cost", from {@code LeakDetectionBenchmark}).
     */
    public static final int SAMPLING_INTERVAL = 4096;

    /** The system property that sets the level of builders not given one: {@value}. */
    public static final String PROPERTY = "io.hotmem.leakDetection";

    /**
     * Parses a level as the system property gives it.
     *
     * @param text {@code disabled}, {@code sampled} or {@code paranoid}, in any case, blanks around ignored
     * @return the level
     * @throws IllegalArgumentException for any other text (naming it)
     */
    public static LeakDetection parse(String text) {
        String t = text == null ? "" : text.strip().toUpperCase(Locale.ROOT);
        for (LeakDetection l : values()) {
            if (l.name().equals(t)) {
                return l;
            }
        }
        throw new IllegalArgumentException("leak detection level '" + text + "' is none of disabled, sampled, "
                + "paranoid");
    }
}
