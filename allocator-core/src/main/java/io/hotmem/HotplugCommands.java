package io.hotmem;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.function.BiFunction;
import java.util.function.IntConsumer;

/**
 * The original {@code /proc/memhotplug} command interface over a {@link PageAllocator}: one line in, the text a
 * person should read out.
 *
 * <pre>
 * plug N          give node N its memory (it becomes disabled)
 * enable N        let node N serve allocations
 * disable N       stop node N from handing out blocks
 * remap Z [s]     free zone Z's pages by moving its allocations elsewhere (deadline s seconds, default 10)
 * drain N [s]     move every movable allocation off disabled node N (deadline s seconds, default 10)
 * offline N [s]   disable, drain and unplug node N, rolling back on failure (deadline s seconds, default 10)
 * unplug N        return disabled, empty node N's memory to the operating system
 * compact Z [s]   move zone Z's allocations to its end so free pages merge (deadline s seconds, default 10)
 * trim            give threads' cached free blocks back to their zones
 * status          the status view
 * buddyinfo       free blocks per order of every plugged zone (Linux /proc/buddyinfo)
 * leaks           tracked live allocations and leaked pins by site (see LeakDetection)
 * help            this text
 * </pre>
 *
 * A malformed or unknown command throws {@link IllegalArgumentException} whose message shows the usage and
 * changes nothing; a refused transition throws {@link IllegalStateException} with the reason. Nothing else
 * escapes. Thread-safe as the allocator is.
 */
public final class HotplugCommands {
    /** The deadline of remap, drain, offline and compact when the command gives none. */
    public static final Duration DEFAULT_DEADLINE = Duration.ofSeconds(10);
    private static final double MAX_SECONDS = PageAllocatorMXBean.MAX_TIMEOUT_MILLIS / 1000.0; // one day, for both

    /** The command summary that {@code help} prints and malformed commands quote. */
    public static final String USAGE = """
            commands:
              plug N          give node N its memory (it becomes disabled)
              enable N        let node N serve allocations
              disable N       stop node N from handing out blocks
              remap Z [s]     free zone Z's pages by moving its allocations elsewhere (deadline s seconds, default 10)
              drain N [s]     move every movable allocation off disabled node N (deadline s seconds, default 10)
              offline N [s]   disable, drain and unplug node N, rolling back on failure (deadline s seconds, default 10)
              unplug N        return disabled, empty node N's memory to the operating system
              compact Z [s]   move zone Z's allocations to its end so free pages merge (deadline s seconds, default 10)
              trim            give threads' cached free blocks back to their zones
              capacity M|none set the capacity limit to M MiB of plugged memory (none: no limit)
              elastic on|off  let the governor plug and offline hot-removable nodes by itself
              status          the status view
              buddyinfo       free blocks per order of every plugged zone (Linux /proc/buddyinfo)
              leaks           tracked live allocations and leaked pins by site (see LeakDetection)
              help            this text
            """;

    private final PageAllocator allocator;

    /**
     * Creates the command interface of one allocator.
     *
     * @param allocator the allocator the commands act on
     */
    public HotplugCommands(PageAllocator allocator) {
        this.allocator = Objects.requireNonNull(allocator, "allocator");
    }

    /**
     * Runs one command.
     *
     * @param line the command, e.g. {@code "drain 1 5"}; surrounding and repeated blanks are ignored, the verb's
     *             case too
     * @return what to show a person: a confirmation, the status view, or a relocation report
     * @throws IllegalArgumentException for a malformed or unknown command (nothing changes)
     * @throws IllegalStateException    for a refused transition, with the reason
     */
    public String execute(String line) {
        if (line == null || line.isBlank()) {
            throw malformed("empty command", line);
        }
        String[] w = line.strip().split("\\s+");
        String verb = w[0].toLowerCase(Locale.ROOT);
        try {
            return switch (verb) {
                case "help" -> {
                    arity(w, 1, 1, line);
                    yield USAGE;
                }
                case "status" -> {
                    arity(w, 1, 1, line);
                    yield allocator.status().render();
                }
                case "buddyinfo" -> {
                    arity(w, 1, 1, line);
                    yield allocator.status().renderBuddyInfo();
                }
                case "leaks" -> {
                    arity(w, 1, 1, line);
                    yield allocator.leaks().render();
                }
                case "trim" -> {
                    arity(w, 1, 1, line);
                    yield "gave back " + allocator.trimCaches() + " cached pages\n";
                }
                case "capacity" -> capacity(w, line);
                case "elastic" -> elastic(w, line);
                case "plug" -> transition(w, line, allocator::plug, "plugged (disabled)");
                case "enable" -> transition(w, line, allocator::enable, "enabled");
                case "disable" -> transition(w, line, allocator::disable, "disabled");
                case "unplug" -> transition(w, line, allocator::unplug,
                        "unplugged: its memory went back to the operating system");
                case "remap" -> relocation(w, line, allocator::remap);
                case "drain" -> relocation(w, line, allocator::drain);
                case "offline" -> relocation(w, line, allocator::offline);
                case "compact" -> relocation(w, line, allocator::compact);
                default -> throw malformed("unknown command '" + w[0] + "'", line);
            };
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new IllegalStateException("'" + line.strip() + "' failed: " + e, e);
        }
    }

    /** {@code capacity M|none}: sets the capacity limit in MiB. */
    private String capacity(String[] w, String line) {
        if (w.length < 2) {
            throw malformed("'capacity' needs a number of MiB or none", line);
        }
        arity(w, 2, 2, line);
        long bytes;
        if (w[1].equalsIgnoreCase("none")) {
            bytes = Long.MAX_VALUE;
        } else {
            long mib;
            try {
                mib = Long.parseLong(w[1]);
            } catch (NumberFormatException e) {
                throw malformed("'" + w[1] + "' is not a number of MiB (or none)", line);
            }
            if (mib < 0 || mib > (Long.MAX_VALUE >> 20) - 1) {
                throw malformed("capacity " + w[1] + " MiB must be from 0 to " + ((Long.MAX_VALUE >> 20) - 1), line);
            }
            bytes = mib << 20;
        }
        allocator.setCapacityLimit(bytes);
        return "capacity limit " + (bytes == Long.MAX_VALUE ? "none" : w[1] + " MiB") + " (plugged "
                + (allocator.pluggedBytes() >> 20) + " MiB now" + (allocator.pluggedBytes() > bytes
                ? "; the governor takes nodes offline" : "") + ")\n";
    }

    /** {@code elastic on|off}. */
    private String elastic(String[] w, String line) {
        if (w.length < 2) {
            throw malformed("'elastic' needs on or off", line);
        }
        arity(w, 2, 2, line);
        boolean on = switch (w[1].toLowerCase(Locale.ROOT)) {
            case "on" -> true;
            case "off" -> false;
            default -> throw malformed("'" + w[1] + "' is neither on nor off", line);
        };
        allocator.setElastic(on);
        return "elastic capacity " + (on ? "on" : "off") + "\n";
    }

    /** {@code verb N}: runs {@code op} on node N and says it is {@code done}. */
    private static String transition(String[] w, String line, IntConsumer op, String done) {
        arity(w, 2, 2, line);
        int n = number(w[1], line);
        op.accept(n);
        return "node " + n + " " + done + "\n";
    }

    /** {@code verb N [seconds]}: runs a relocation on node or zone N and renders its report. */
    private static String relocation(String[] w, String line, BiFunction<Integer, Duration, RelocationReport> op) {
        arity(w, 2, 3, line);
        return report(op.apply(number(w[1], line), deadline(w, line)));
    }

    /** Renders a relocation report: the summary line, then the straggling handles one per line. */
    static String report(RelocationReport r) {
        StringBuilder sb = new StringBuilder(r.toString()).append('\n');
        for (RelocationReport.Straggler s : r.stragglers()) {
            sb.append("  pinned: ").append(s).append('\n');
            if (s.site() != null) {
                for (String frame : s.site().split("\n")) {
                    sb.append("    ").append(frame).append('\n');
                }
            }
        }
        return sb.toString();
    }

    private static void arity(String[] w, int min, int max, String line) {
        if (w.length < min) {
            throw malformed("'" + w[0] + "' needs " + (min == 2 ? "a number" : (min - 1) + " arguments"), line);
        }
        if (w.length > max) {
            throw malformed("'" + w[0] + "' takes at most " + (max - 1) + " argument" + (max == 2 ? "" : "s"),
                    line);
        }
    }

    private static int number(String word, String line) {
        try {
            return Integer.parseInt(word);
        } catch (NumberFormatException e) {
            throw malformed("'" + word + "' is not a node or zone number", line);
        }
    }

    private static Duration deadline(String[] w, String line) {
        if (w.length < 3) {
            return DEFAULT_DEADLINE;
        }
        double seconds;
        try {
            seconds = Double.parseDouble(w[2]);
        } catch (NumberFormatException e) {
            throw malformed("'" + w[2] + "' is not a number of seconds", line);
        }
        if (!(seconds >= 0 && seconds <= MAX_SECONDS)) {
            throw malformed("deadline " + w[2] + " must be from 0 to " + (long) MAX_SECONDS + " seconds", line);
        }
        return Duration.ofNanos((long) (seconds * 1e9));
    }

    private static IllegalArgumentException malformed(String why, String line) {
        return new IllegalArgumentException(why + " in " + (line == null ? "null" : "'" + line.strip() + "'")
                + "\n" + USAGE);
    }
}
