package io.hotmem;

import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * What a remap, drain or offline did. Every block it moved stays moved, every other block stays valid where it
 * was; this says how many of each and why blocks were left.
 *
 * @param operation   what ran, e.g. {@code "drain node 1"}
 * @param complete    true when no block is left to move (for offline: the node was unplugged)
 * @param moved       blocks moved
 * @param movedBytes  bytes of the moved blocks
 * @param remaining   live blocks left in the zones at the end
 * @param stragglers  blocks still pinned at the end, with their pin counts
 * @param failures    per reason, the blocks (or, for VETOED, TIMED_OUT and INTERRUPTED, the events) that stopped it
 * @param elapsed     wall time of the whole operation
 */
public record RelocationReport(String operation, boolean complete, long moved, long movedBytes, long remaining,
                               List<Straggler> stragglers, Map<FailureReason, Integer> failures,
                               Duration elapsed) {

    /**
     * A block that stayed pinned.
     *
     * @param handle        its handle
     * @param pins          its pin count when last seen
     * @param pinnedAtLeast how long it has been seen pinned by this operation
     * @param site          where an open pin of it was taken ({@code at ...} lines), when leak detection tracked
     *                      one (see {@link LeakDetection}); null when not known
     */
    public record Straggler(long handle, int pins, Duration pinnedAtLeast, String site) {
        /**
         * A straggler whose pin site is not known.
         *
         * @param handle        its handle
         * @param pins          its pin count when last seen
         * @param pinnedAtLeast how long it has been seen pinned by this operation
         */
        public Straggler(long handle, int pins, Duration pinnedAtLeast) {
            this(handle, pins, pinnedAtLeast, null);
        }

        @Override
        public String toString() {
            return "0x" + Long.toHexString(handle) + " (pins " + pins + ", pinned >= " + pinnedAtLeast.toMillis()
                    + " ms" + (site == null ? ")" : ", taken " + site.lines().findFirst().orElse("").strip() + ")");
        }
    }

    /** Copies the collections. */
    public RelocationReport {
        stragglers = List.copyOf(stragglers);
        failures = failures.isEmpty() ? Map.of() : Map.copyOf(new EnumMap<>(failures));
    }

    /**
     * Returns the handles of the blocks still pinned at the end.
     *
     * @return the handles of the blocks still pinned at the end
     */
    public List<Long> pinnedHandles() {
        return stragglers.stream().map(Straggler::handle).toList();
    }

    /**
     * Returns one readable line, e.g. {@code drain node 1: complete, moved 120 blocks (480 KiB) in 3 ms}.
     *
     * @return one readable line, e.g. {@code drain node 1: complete, moved 120 blocks (480 KiB) in 3 ms}
     */
    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(operation).append(": ").append(complete ? "complete" : "incomplete")
                .append(", moved ").append(moved).append(moved == 1 ? " block (" : " blocks (")
                .append(humanBytes(movedBytes)).append(") in ").append(elapsedText());
        if (!complete) {
            sb.append(", ").append(remaining).append(" left");
        }
        if (!failures.isEmpty()) {
            sb.append(", failures ").append(new EnumMap<>(failures).entrySet().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(" ")));
        }
        if (!stragglers.isEmpty()) {
            sb.append(", pinned ").append(stragglers.stream().limit(8).map(Straggler::toString)
                    .collect(Collectors.joining(", "))).append(stragglers.size() > 8 ? ", ..." : "");
        }
        return sb.toString();
    }

    private String elapsedText() {
        long micros = elapsed.toNanos() / 1000;
        return micros < 10_000 ? micros + " us" : micros / 1000 + " ms";
    }

    static String humanBytes(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        if (bytes < 1024 * 1024) {
            return bytes / 1024 + " KiB";
        }
        return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
    }
}
