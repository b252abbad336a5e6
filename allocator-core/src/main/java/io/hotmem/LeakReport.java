package io.hotmem;

import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What leak detection knows at one moment ({@link PageAllocator#leaks()}): the tracked allocations still live,
 * and the tracked pins that were found unreachable without {@link Pin#close()}, each grouped by the place that
 * made them, largest first. At {@link LeakDetection#SAMPLED} the counts are of tracked calls only (about one in
 * {@value LeakDetection#SAMPLING_INTERVAL}); the exact totals of live memory are in {@link PageAllocator#status()}.
 *
 * @param level           the allocator's level
 * @param liveAllocations tracked allocations not freed yet, by site (a site that keeps growing, with an old oldest
 *                        age, is a leak)
 * @param leakedPins      tracked pins that became unreachable while open, by site: each is a bug, and its block
 *                        stays pinned
 */
public record LeakReport(LeakDetection level, List<Site> liveAllocations, List<Site> leakedPins) {

    /**
     * Allocations or pins made at one place.
     *
     * @param stack  the frames of the caller that made them (outside hotmem), one {@code at ...} line each
     * @param count  how many
     * @param bytes  their bytes (for pins: the bytes of the allocations they pinned)
     * @param oldest the age of the oldest of them (for pins: since it was taken)
     */
    public record Site(String stack, long count, long bytes, Duration oldest) {
        /** Checks the values. */
        public Site {
            Objects.requireNonNull(stack, "stack");
            Objects.requireNonNull(oldest, "oldest");
        }
    }

    /** Copies the lists. */
    public LeakReport {
        Objects.requireNonNull(level, "level");
        liveAllocations = List.copyOf(liveAllocations);
        leakedPins = List.copyOf(leakedPins);
    }

    /**
     * Renders the report as the {@code leaks} command prints it: a summary line, then each site with its count,
     * bytes and oldest age, and its frames indented.
     *
     * @return the text, ending in a newline
     */
    public String render() {
        StringBuilder sb = new StringBuilder("leak detection ").append(level);
        if (level == LeakDetection.SAMPLED) {
            sb.append(" (1 in ").append(LeakDetection.SAMPLING_INTERVAL).append(" allocations tracked, with their pins)");
        }
        sb.append(": ").append(liveAllocations.size()).append(liveAllocations.size() == 1 ? " site" : " sites")
                .append(" of live allocations, ").append(leakedPins.size())
                .append(leakedPins.size() == 1 ? " site" : " sites").append(" of leaked pins\n");
        if (level == LeakDetection.DISABLED) {
            return sb.toString();
        }
        section(sb, "live allocations by site", "allocation", liveAllocations);
        section(sb, "leaked pins by site (never closed; their blocks stay pinned)", "pin", leakedPins);
        return sb.toString();
    }

    private static void section(StringBuilder sb, String title, String noun, List<Site> sites) {
        if (sites.isEmpty()) {
            return;
        }
        sb.append(title).append(":\n");
        for (Site s : sites) {
            sb.append("  ").append(s.count()).append(' ').append(noun).append(s.count() == 1 ? "" : "s").append(", ")
                    .append(RelocationReport.humanBytes(s.bytes())).append(", oldest ")
                    .append(ageText(s.oldest())).append('\n');
            for (String line : s.stack().split("\n")) {
                sb.append("    ").append(line).append('\n');
            }
        }
    }

    private static String ageText(Duration d) {
        long ms = d.toMillis();
        return ms < 10_000 ? ms + " ms" : ms / 1000 + " s";
    }
}
