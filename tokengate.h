/* tokengate.h v0.1.0 - token-managed concurrency for C: plain functions become
   tokens that are routed by weight to pinned per-core workers and awaited.
   MIT licence (see the end of this file).

   DO THIS in exactly one .c file, before any other #include:

       #define TOKENGATE_IMPLEMENTATION
       #include "tokengate.h"

   and simply #include "tokengate.h" everywhere else; build with -pthread.
   Linux only (futex, eventfd, sched_setaffinity). The quick start below is
   the same program as README.md's and examples/quickstart.c; the contents
   and the documentation follow it. */

#if 0 /* QUICK START (examples/quickstart.c) */
/* quickstart.c - the smallest complete TokenGate program: one operation,
   one token submitted, awaited, printed, released. */
#define TOKENGATE_IMPLEMENTATION
#include "../tokengate.h"
#include <stdio.h>

/* A plain synchronous function: read the copied arguments, write the result,
   return 0 for success. */
static int square(const void *args, tg_value *result)
{
    int x = *(const int *)args;
    result->i = (int64_t)x * x;
    return 0;
}

static const tg_op square_op = { .name = "square", .fn = square };

int main(void)
{
    tg_scheduler *s;
    tg_token t;
    tg_value v;
    int x = 7;

    int rc = tg_create(NULL, &s);                    /* one worker per CPU */
    if (rc != TG_OK) {
        fprintf(stderr, "tg_create: %s\n", tg_strerror(rc));
        return 1;
    }
    rc = tg_submit(s, &square_op, &x, sizeof x, &t); /* x is copied */
    if (rc == TG_OK)
        rc = tg_wait(s, t, -1, &v);                  /* -1: no time limit */
    if (rc == TG_OK) {
        printf("square(%d) = %lld\n", x, (long long)v.i);
        tg_release(s, t);
    } else {
        fprintf(stderr, "square: %s\n", tg_strerror(rc));
    }
    tg_destroy(s);
    return rc == TG_OK ? 0 : 1;
}
#endif /* QUICK START */

/*
   CONTENTS
     1. Overview
     2. Threading model
     3. Memory-ordering contract
     4. Configuration (table of defaults)
     5. Errors
     6. Tokens and their lifecycle
     7. Routing and mailboxes
     8. Awaiting: poll, wait, wait_all, wait_any, the completion fd
     9. Operations: tg_op, TG_OPERATION and the registry
    10. Limits and admission
    11. Sticky registry
    12. Hash conductor (domains) and SHA-256
    13. Retries
    14. Control: pause, drain, kill
    15. Deadlines
    16. Storage tiers
    17. Dedupe
    18. Health and the health guard
    19. Telemetry: tg_stats, JSON, Prometheus
    20. The live monitor
    --  Declarations
    --  Implementation, one banner per subsystem in data-flow order; grep a
        marker (">>slots") to jump to its section:
     >>platform   Platform: atomics, clock, futex, affinity
     >>sha256     SHA-256 (FIPS 180-4): the conductor's seeds, and tg_sha256_*
     >>errors     Errors and names
     >>layout     Scheduler layout
     >>slots      Token slots: chunked pool, generations, free list
     >>mailboxes  Mailboxes: bounded lock-free MPMC queues, one per core
     >>deques     Work-stealing deques (nested submissions), one per core
     >>parking    Worker parking: spin briefly, then sleep on a futex
     >>spares     Spares: threads that take a core over while its owner blocks
     >>routing    Routing: weight home ranges, staggered position counters, overflow
     >>sticky     Sticky registry: keys pinned to cores, reference-counted
     >>conductor  Hash conductor: domains of a lead and its descendants on one core
     >>guard      Health guard: how well each op runs, and ops refused while failing
     >>ops        Operations registry: per-op entries, names, counts and histograms
     >>admission  Admission: slots (max_tokens) and room in the mailboxes
     >>ends       Token ends: one claim, one terminal move, holds given back once
     >>dedupe     Dedupe: equal live submissions of a TG_OP_DEDUPE op share one run
     >>submit     Submitting
     >>deps       Dependencies: tokens admitted when the tokens they follow end
     >>tiers      Storage tiers: at most a tier's cap of its tokens run at once
     >>workers    Workers: finding work, running tokens, ending them
     >>await      Await and poll
     >>groups     Groups: a scope's tokens and their descendants, waited for as one
     >>notify     Completion fd
     >>task       Inside a task
     >>control    Control: global and per-op pause, drain, kill, unblock
     >>telemetry  Telemetry
     >>monitor    Monitor: SHA-1, base64, HTTP and WebSocket parsers, the page, the server
     >>lifecycle  Lifecycle: configuration, create, shutdown, destroy

   1. OVERVIEW
   An *operation* (tg_op) names a plain synchronous function, its weight and
   its tags. Each call submitted through tg_submit becomes a *token*: a handle
   (a 64-bit value) to a preallocated slot that holds a copy of the arguments,
   the state, the result and a timestamp for every state move. The scheduler
   routes the token to a bounded lock-free mailbox of one core, where a worker
   thread pinned to that CPU runs it. The caller polls or awaits tokens (one,
   all, any) or, from an event loop, watches a completion fd.

   2. THREADING MODEL
   - A scheduler owns one worker thread per "core" (worker index 0..n-1), each
     pinned to one CPU of the process's affinity mask (round-robin when there
     are more workers than CPUs).
   - Every tg_* function taking a scheduler may be called from any thread:
     outside threads and tasks alike, concurrently, except tg_destroy, which
     must be called once, from an outside thread, after every other call on
     that scheduler has returned.
   - tg_shutdown and tg_wait_idle may be called from any outside thread;
     called from inside a task they return TG_EDEADLK (the task is live).
   - Inside a task (a tg_fn running on a worker) a wait never deadlocks, on
     any graph of waits the API allows, whatever the number of workers: it
     runs beneath itself only the tokens it waits for, and otherwise sleeps
     and hands its core to a spare worker, as a token of a storage tier and
     a tg_blocking_begin section do (section 21).
   - tg_self, tg_current_core and tg_should_stop read the calling thread's own
     state; outside a task they return TG_TOKEN_NONE, -1 and 0.

   3. MEMORY-ORDERING CONTRACT
   - Everything a thread wrote before tg_submit (including the argument bytes,
     which are copied) happens-before the task's function starts.
   - Everything the task's function wrote before returning happens-before the
     return of any call that observes the token in a terminal state: tg_poll,
     tg_wait, tg_wait_release, tg_wait_all, tg_wait_any, tg_gather,
     tg_gather_release, tg_info, or tg_completions returning its handle; of
     tg_group_wait returning once all ended (for each member and
     descendant); of tg_wait_idle returning TG_OK (for every token ended
     before, detached ones too); and the start of a tg_submit_after token
     (for each dependency). (A token observed terminal is published with a
     release store, every observer reads it, or a count its ender moved
     after it, with an acquire load.)
     A kill (tg_kill, tg_op_kill, a cancelling shutdown) never ends a
     running token before its function returns.
   - Two ends come before the function returns, by design: a deadline ends
     a running token TIMEOUT at the deadline, and a tg_shutdown that runs
     out of time marks the tokens still running KILLED. Their arguments stay
     valid (the slot is reused only after the function returns) and their
     holds (max_live place, sticky pin, domain) go back when it returns, but
     what the function writes is not ordered before such an observer.
   - A wait that returns TG_ETIMEDOUT, and tg_poll observing a live state,
     give no ordering guarantee about the task.

   4. CONFIGURATION
   A zero-initialised tg_config (or a NULL pointer) means every default:

     field               default                       range / notes
     ------------------  ----------------------------  --------------------------
     workers             CPUs in the affinity mask      1 .. TG_MAX_WORKERS (256)
     no_pin              0 (pin each worker to a CPU)   nonzero: no pinning
     mailbox_capacity    4096 per core                  rounded up to a power of 2,
                                                        2 .. 1<<24
     max_tokens          4,194,304 live tokens          1 .. TG_MAX_TOKENS (1<<28)
     full_policy         TG_FULL_BLOCK                  or TG_FULL_REJECT
     strict_routing      0 (home ranges that overflow)  nonzero: hard ranges
     max_args_size       65,536 bytes                   0 .. 1<<30 (0 = default)
     sticky_capacity     4096 registry entries          rounded up to a power of 2,
                                                        1 .. 1<<20
     max_domains         4096 domains                   1 .. 1<<20
     max_ops             256 distinct operations        1 .. 65536
     dedupe_capacity     4096 entries                   rounded up to a power of 2,
                                                        1 .. 1<<20
     auto_block          0 (no health guard)            nonzero: guard on
     max_spare_workers   256 threads beyond workers     1 .. 65536 (section 21)
     stack_size          8 MiB (8388608 bytes) each     64 KiB .. 1<<30: every
                                                        worker and spare
     tier_caps[1..4]     10, 25, 50, 70 running         1 .. 65535 (0 = default)
     log                 writes to stderr               NULL field = default
     allocator           malloc/free                    both functions or neither

   Slots come in chunks of 4096 allocated as they are first needed, so an
   idle scheduler holds only its mailboxes and one chunk.

   5. ERRORS
   Every function that can fail returns TG_OK (0) or a negative TG_E* code,
   and tg_strerror names each. Bad input from the caller (NULL pointers, a
   stale or forged handle, a bad config value) is an error code, never a crash.
   TG_ASSERT guards only the library's own invariants (assert() unless
   defined before the implementation). Defining TG_DEBUG there adds checks
   of them that cost memory (two bytes per token slot): that through each of
   its two link fields a slot is on at most one internal list at a time.
   The test suite builds with TG_DEBUG.

   6. TOKENS AND THEIR LIFECYCLE
   States move only forward along
       CREATED -> WAITING -> ADMITTED -> EXECUTING -> COMPLETED | FAILED | KILLED
   and any live state may end in KILLED (tg_kill, tg_shutdown with TG_CANCEL)
   or TIMEOUT (its op's timeout_ns passed; section 15). A token reaches exactly one terminal
   state exactly once, every move is stamped in CLOCK_MONOTONIC nanoseconds,
   and every waiter learns the outcome. Stamps are read through the CPU's
   invariant TSC where it has one, calibrated against CLOCK_MONOTONIC and
   re-anchored to it every millisecond per thread: within about a
   microsecond of it (2 us at most; stamps of different threads may differ
   by that much).
   A token's stamps never go backwards and are ordered (created <= waiting
   <= admitted <= started <= ended, for those reached; a retry keeps the
   first admission, and ended_ns is 0 until the token is terminal), nor do
   the stamps one thread takes go backwards.
   - CREATED: the slot is taken and the arguments copied.
   - WAITING: the token waits for room in a mailbox (under TG_FULL_BLOCK).
     A token that finds room at once passes WAITING and ADMITTED as it is
     created (waiting_ns = admitted_ns = created_ns); one that waited shows
     when it began to wait, and admitted_ns 0 until it found room.
   - ADMITTED: the token sits in a mailbox.
   - EXECUTING: a worker runs its function.
   - COMPLETED: the function returned 0; FAILED: it returned another value
     (tg_info's failure_code); KILLED: killed before it started, or killed
     while running (the function saw tg_should_stop() and its result is
     discarded).
   A handle stays valid until tg_release. After it, every call with the handle
   returns TG_ESTALE, even once the slot holds another token: slots carry a
   generation that each release advances, kept with the state in one atomic
   word, so a move made through a handle (a kill, a release, a waiter's
   flag) compares the generation in the same step. A handle holds the slot
   index (bits 0..27), its scheduler's tag (bits 28..31: its creation count
   mod 16) and the generation XOR a random key of the scheduler: a handle of
   another scheduler, or of a destroyed one, gets TG_EINVAL or TG_ESTALE,
   always when the tags differ, else but for a 2^-31 chance per call.
   Arguments of up to 32 bytes are kept in the slot itself. fork(): a child
   must not use an inherited scheduler; every call on it returns TG_EFORKED
   (tg_destroy leaves the copy alone). A token released while it still
   runs keeps running; its slot is reused only after it ends. Detached tokens
   (tg_submit with out == NULL) release themselves when they end.

   7. ROUTING AND MAILBOXES
   Cores are worker indexes 0..n-1. An operation's weight gives a home range:
       TG_HEAVY  -> cores 0..n-1,  TG_MEDIUM -> cores 1..n-1,
       TG_LIGHT  -> cores 2..n-1,  each start clamped to n-1.
   Within the range a token goes to the core whose staggered position counter
   is lowest (ties: the lowest core), and that counter advances, so tokens
   spread in FIFO order. By default ranges are home ranges: when every mailbox
   of the range is full the token overflows to another core, and idle workers
   steal waiting work from busy ones. A parked worker is woken to steal when
   a token lands behind a running one, or when a core's backlog would take
   longer than a wake-up (20 us) at that core's recent time per token; a
   stream of short tokens that its core keeps up with stays there (tokens
   queued behind one such core's token that turns out long wait for that
   one run). A token submitted from inside a task
   goes to the submitting worker's own LIFO deque (children run where their
   parent waits for them; idle workers steal the oldest). With strict_routing
   ranges are hard: no stealing, no overflow, and a nested submit goes to the
   worker's own deque only when that worker is inside the range.
   Each core has a bounded lock-free MPMC mailbox and a bounded work-stealing
   deque. When the target is full, TG_FULL_BLOCK waits for room (a worker
   runs other tokens meanwhile) and TG_FULL_REJECT returns TG_EBUSY. One full
   mailbox never stalls submissions bound for other cores.

   8. AWAITING
   tg_poll never blocks. tg_wait, tg_wait_all and tg_wait_any take a timeout in
   nanoseconds: negative waits forever, 0 polls. A wait spins briefly, then
   sleeps on a futex; inside a task it first runs the tokens it waits for,
   and its core serves other tokens while it sleeps (section 21).
   tg_wait_all and tg_wait_any check every handle before they wait, so a bad
   one anywhere in the array gives its error at once.
   tg_wait_all returns TG_OK once every token is terminal (each outcome is then
   read with tg_wait(..., 0, ...)); tg_wait_any returns TG_OK and the index of
   the first terminal token in array order.
   tg_completion_fd is an eventfd (non-blocking, close-on-exec) that becomes
   readable when a token of a TG_OP_NOTIFY operation submitted with a handle
   ends; tg_completions drains those handles in completion order (detached
   tokens are not reported). tg_completions resets the eventfd's counter
   itself (and leaves it readable while handles remain), so the caller need
   not read the fd. The fd belongs to the scheduler: do not close it.

   9. OPERATIONS
   A tg_op is plain data; keep it (and its strings) alive while its tokens
   are live, until each has ended. The scheduler copies the name: a heap op
   may be freed once its tokens ended; tg_stats, tg_op_names, tg_info, the
   exports and the controls read only the copy. Ops are counted by name:
   every tg_op of one name shares one registry entry (counts, controls and
   the max_live count), and max_ops bounds the distinct names.
       TG_OPERATION(fib, int, .weight = TG_HEAVY)
   expects  int fib(const int *args, tg_value *result)  and declares
       static const tg_op fib_op;
       static int fib_submit(tg_scheduler *s, int args, tg_token *out);
   (C only: C++ cannot mix the positional and designated initialisers it uses.)
   Operations are registered on their first submission (max_ops distinct
   names, TG_EOPLIMIT for a new name past it); controls and tg_op_stats name
   them by op name, and act on every tg_op of that name.

   10. LIMITS AND ADMISSION
   max_tokens bounds the tokens that exist at once: live ones plus ended ones
   whose handles are not yet released, plus killed ones a run queue still
   names (a token killed while queued ends at once; its slot comes back
   when a worker reaches the queue entry and drops it). Past it TG_FULL_BLOCK waits for a slot
   and TG_FULL_REJECT returns TG_EBUSY. When max_tokens >= 1024 per worker,
   each worker may keep up to 128 free slots in a private cache, so an outside
   thread may see the limit that many slots early.
   An op's max_live bounds the live tokens of its name (admitted until
   terminal and its function returned: a token that timed out while running
   keeps its place until its function returns; a retry keeps its place), so
   one flooding op cannot take every slot: at the
   limit TG_FULL_BLOCK waits and TG_FULL_REJECT returns TG_EBUSY, while other
   ops are admitted as usual. tg_submit_timeout bounds every wait of a
   blocking submission (a slot, the op's max_live, room in a mailbox):
   TG_ETIMEDOUT past it, and nothing was submitted. Inside a task a blocked
   submission runs other tokens meanwhile.

   11. STICKY REGISTRY
   Tokens of an op with a sticky_anchor carry a key: the anchor string (the
   op's name when the anchor is "") plus the argument bytes. The first token
   of a key lands on a core as any token would (its home range, or the
   submitting worker's own core for a nested submit) and pins the key there;
   every later token of the key goes to that core while any token of the key
   is live. The pin is reference-counted: +1 when a token joins, -1 when it
   reaches a terminal state (a retry keeps it), released at zero; a key
   pinned again later may land on another core.
   Pinned tokens wait in their core's *pinned mailbox*, which other workers
   never steal from. When it is full the caller's full policy applies
   (TG_FULL_BLOCK waits for room there, TG_FULL_REJECT returns TG_EBUSY).
   The registry has sticky_capacity entries and each key hashes to one of
   them (64-bit hash: index bits plus a 27-bit tag). A key whose entry is held
   by another live key is routed as if it had no anchor and counted in
   tg_stats' sticky_overflow: never an error, never a leak. Two keys with the
   same index and tag (odds about 2^-27 per pair sharing an entry) share a
   pin, and so a core; nothing else changes.

   12. HASH CONDUCTOR (DOMAINS) AND SHA-256
   A token of an op whose external_calls lists at least one call is a *lead*.
   At routing it opens a domain with a seed, the SHA-256 of
       "<lead id>:<calls>"
   written as 64 lowercase hex digits (tg_info's seed), where <lead id> is
   the lead's handle value tg_token.bits in decimal (a detached lead has one
   too) and <calls> is the canonical form of its external calls: sorted by
   strcmp, duplicates removed, joined with ",". Example: calls
   {"kv.get", "db.read", "kv.get"} give "db.read,kv.get". A call must be a
   non-empty string without ','; at most 64 calls (TG_EINVAL otherwise).
   The domain is pinned to the core the lead lands on, and the lead is never
   stolen. Every token submitted from inside a running member of the domain
   (the lead, its children, their children...) joins it: it inherits the
   seed and runs on the domain's core, from that core's pinned mailbox.
   The domain counts its pending members: +1 per joining token (the lead
   included), -1 only when one reaches a terminal state; at zero the domain
   is released (tg_stats' domains_open; tg_wait_idle returning means every
   ended token's pins are back). A token submitted from a member whose
   domain was already released (possible only once a member can end while
   its function still runs: a shutdown's final sweep) joins nothing: it is
   routed as if submitted from outside any domain, with no seed, and counted
   in domain_late. The entry behind a
   seed is reused only once no slot names it (tg_info reads the seed from
   it), so domains_kept counts entries whose members still have unreleased
   handles. When all max_domains entries are in use a new lead runs without
   a domain (empty seed, routed as a plain token) and is counted in
   domain_overflow.
   Which rule places a token: (1) a lead always opens its own domain (it
   never joins the one it is submitted from) and lands where its sticky key
   is pinned if it has a sticky_anchor (so key, lead and domain share one
   core), else on the submitting worker's core when a task submits it, else
   by its weight range; (2) a non-lead submitted inside a domain runs on the
   domain's core: the domain wins over its own sticky_anchor, which is then
   ignored (no pin taken); (3) else a sticky key places it; (4) else the
   weight ranges of section 7. Pins override weight ranges and
   strict_routing.
   A chain stops as a unit: tg_kill of a lead (while its domain is open,
   even once the lead itself has ended) kills the domain: its members that
   have not started end KILLED and never run (the start of every member is
   refused from then on, so one being submitted at that moment is stopped
   too), running ones see tg_should_stop() and end KILLED when they return,
   and tokens they submit still join the domain and end KILLED without
   running. A kill of any other member kills that member alone. A member
   that is itself a lead heads a domain of its own, which a kill of the
   outer lead does not reach (a group, tg_group_create, stops any tree). The
   monitor lists each open domain and kills it by its lead (section 20).
   tg_sha256 (one shot), tg_sha256_init/update/final (streaming) and
   tg_sha256_hex are public: FIPS 180-4, no dependency.

   13. RETRIES
   A run that returns non-zero is run again, up to the op's
   max_retries (0..65535) times. The token keeps its slot, handle, weight,
   sticky pin and domain; it goes back to the end of a mailbox of its home
   range (of its pinned core's pinned mailbox when pinned), so tokens queued
   meanwhile run first. tg_info's retries counts the retries so far and
   failure_code holds the last non-zero return; the final outcome (a later
   success, or FAILED with the last code) is what waiters see. A kill wins
   over a retry.

   14. CONTROL: PAUSE, DRAIN, KILL
   Pause: tg_pause stops every worker from starting tokens (running ones go
   on; submissions are still accepted and queue up) until tg_resume.
   tg_op_pause holds one op back: a worker that takes one of its tokens puts
   it on the op's held list and runs other work, so other ops never wait for
   it; tg_op_resume sends the held tokens back to the queues in the order
   they were held (the resuming thread waits for room if a queue is full).
   Drain and kill: tg_op_drain kills the op's tokens submitted before the
   call that have not started: held ones at once, queued ones when a worker
   reaches them (they never run; their waiters see TG_EKILLED). tg_op_kill
   does the same and asks the op's running tokens to stop (tg_should_stop;
   they end KILLED). Tokens submitted after the call are not affected.
   A shutdown ends every pause (held tokens are queued again) so it can
   drain. Control calls after a shutdown began return TG_ESHUTDOWN.

   15. DEADLINES
   An op's timeout_ns > 0 gives each token a deadline, that long
   after its submission. Past it the token ends TIMEOUT and its waiters get
   TG_EDEADLINE, at the deadline: whoever looks first moves it (a sleeping
   waiter wakes for the earliest deadline it watches; tg_poll and tg_info
   check it), else the worker that reaches it. A token not yet started never
   starts. A running one sees tg_should_stop() turn nonzero; whatever it
   returns is discarded, and its slot is reused only after it returns (so
   tg_wait_idle may return while such a function winds down). No retry
   starts past the deadline. Negative timeout_ns: TG_EINVAL.

   16. STORAGE TIERS
   An op's io_tier (TG_IO_SLOW, _MODERATE, _FAST, _INSANE) marks its
   tokens as blocking (file, socket or device I/O) and caps how many of
   them run at once: tier_caps in tg_config, by default 10, 25, 50 and 70.
   Below the cap they really run at once: a worker that starts one hands
   its core to a spare worker first (section 21), so up to the cap of them
   block together while the cores go on with CPU tokens; the whole run of
   such a token counts as blocked time. A worker that takes a token over
   its tier's cap sets it aside on the tier's list and runs something
   else; when a token of the tier finishes, its thread runs the first one
   set aside, which takes over its place (so set-aside tokens run in
   order). A token
   killed or past its deadline while set aside passes its turn on. tg_stats
   shows tier_running and tier_waiting (a worker gives its place back just
   after its token's end, so they may lag tg_wait_idle by a moment). An io_tier out of range: TG_EINVAL.

   17. DEDUPE
   A submission of a TG_OP_DEDUPE op whose (op, argument bytes)
   equals a live token's joins that token instead of running: it gets its
   own handle (a slot of its own, counted like any token: max_tokens,
   max_live), never queued (it shows ADMITTED while it waits for its
   leader, with the join as its admitted_ns, and tg_stats' admitted leaves
   it out), and ends when that token ends, in the same state with the same
   result or failure code; each handle is released on its own. Killing or timing out a follower ends only the follower; the
   leader's end (a kill included) ends its followers. Equal arguments after
   the leader ended run again. The table has dedupe_capacity entries by
   hash: a submission whose entry is taken by other arguments runs alone
   (counted in tg_stats' dedupe_overflow; joins in dedupe_joined).

   18. HEALTH AND THE HEALTH GUARD
   Per op: attempts (runs that returned), successes, failures, retried,
   and tokens ended failed / killed / timed out; the class (tg_op_stats'
   health) is excellent from 95% of attempts succeeding, healthy from 80%,
   at risk from 50%, problematic below, and unknown before 5 attempts.
   With tg_config.auto_block, an op whose runs failed more than 90% of at
   least 10 attempts (counted since its last tg_op_unblock) is refused:
   tg_submit returns TG_EBLOCKED until tg_op_unblock.

   19. TELEMETRY: TG_STATS, JSON, PROMETHEUS
   tg_stats reads per-worker counters without a lock (each count exact, the
   set not taken at one instant): tokens submitted, admitted (reached a run
   queue: every submitted token except dedupe followers, once it got room),
   completed, failed, killed, timed out, live; failed runs retried; per
   core: functions run, tokens stolen, mailbox depth, busy now, summed run
   time; the concurrency ratio (summed run time / wall time) since
   tg_create and over the last whole second. tg_op_names lists the op
   names; tg_op_stats gives an op's counts, health class, and run-time and
   queue-wait p50/p95/p99 from fixed log-linear histograms (4 buckets per
   power of two: a percentile is its bucket's upper edge, at most 25% above).
   tg_stats_json writes all of that as one JSON object (times in ns), with
   "groups" (each open group: id 1, 2, ... in creation order, parent id or
   0, live members, joined and ended since creation, cancelled, error: the
   first failure's code) and "domains" (each open domain: lead, its
   handle's value as a decimal string, core, pending members, killed,
   seed), at most 256 of each;
   tg_stats_prometheus as Prometheus text: counters end in _total, times
   are _seconds histograms (buckets at each power of two from 256 ns to
   2^36 ns), labels op, core, result, state, tier, window. Both take a
   buffer and its size and say how long the text is (TG_ERANGE: too small).

   20. THE LIVE MONITOR
   The monitor is opt-in: define TOKENGATE_MONITOR next to
   TOKENGATE_IMPLEMENTATION (without it there is no socket code at all).
   tg_monitor_start runs an HTTP/1.1 server on a thread of its own (poll,
   non-blocking sockets), on 127.0.0.1:5000 unless told another address or
   port. It serves:
     GET /             the page (HTML, CSS and JavaScript from this header,
                       no external asset): per-core load, a tokens/s chart,
                       a per-op table with pause / resume / drain / kill;
     GET /metrics      tg_stats_prometheus      } with the access token, as
     GET /stats.json   tg_stats_json            } "Authorization: Bearer T"
                                                  or "?token=T"; else 401
     GET /ws           WebSocket (RFC 6455). The client's first message is
                       "auth T"; then the server sends
                       {"type":"stats","stats":<tg_stats_json>} every
                       interval_ms, and the client may send "pause OP",
                       "resume OP", "drain OP", "kill OP" or "unblock OP",
                       "kill-group ID" (as tg_group_cancel) or "kill-domain
                       LEAD" (as tg_kill of the lead, whose handle may be
                       released already), each answered {"type":"reply",
                       "cmd":..,"rc":..,"op":..,"error":..}: rc TG_ESTALE
                       when no group (domain) of that id is open, ever or
                       any more, TG_EINVAL when the text is not an id. The page's table has a row
                       per open group and domain with its counts and a kill
                       button. A wrong token, or a control before auth, is
                       answered and closed with 1008.
   The access token is configured, or 32 random hex digits printed once to
   stderr; it is compared in time that does not depend on where it differs.
   Bad input never reaches the scheduler: a malformed head gets 400 (bare
   LF, folded or nameless headers, NUL bytes, no Host in 1.1), other
   methods 405, a body 413, a head over 8 KiB 431, another HTTP version
   505, a head not whole within client_timeout_ms 408, a client over
   max_connections 503; a WebSocket frame unmasked, with reserved bits or
   opcodes, or a control frame split or over 125 bytes is closed with 1002,
   over 4 KiB 1009, binary or fragmented 1003, text not UTF-8 1007, a frame
   not whole within the timeout 1008. A client that lets 4 MiB of output
   pile up is dropped. Every HTTP answer closes its connection.

   21. BLOCKING AND SPARE WORKERS
   A core has one running worker thread at a time. When a task blocks, its
   thread hands the core to a spare worker (a thread pinned to the same
   CPU, which serves the core's mailbox and deque from then on) and sleeps;
   when it wakes, the task goes on without a core until it returns, and its
   thread then waits in the spare pool. Spares are created when a hand-off
   finds none parked, at most max_spare_workers of them (default 256), and
   stay parked (no CPU) until tg_destroy; tg_stats shows spares_alive,
   spares_running (serving a core or running a blocked task now),
   spares_peak and handoffs. A task blocks, and its core is handed on, in:
   - a wait (tg_wait, tg_wait_all, tg_wait_any) that has nothing it may run;
   - a token of a storage tier (section 16), for its whole run;
   - a section between tg_blocking_begin() and tg_blocking_end(): wrap any
     other blocking call in them (a sleep, a lock held elsewhere, a system
     call that waits). A hand-off costs a futex wake-up and a thread switch
     on the CPU, a few microseconds: worth it for anything that blocks
     longer than that; a spare stack is stack_size bytes of address space
     (touched only as it is used);
   - a blocking tg_submit that found no room for 1 ms.
   What a wait runs beneath itself: only the tokens it waits for, and only
   when it waits for all of them without a timeout (tg_wait, tg_wait_all,
   tg_gather, tg_group_wait with -1), when they are queued: from the
   bottom of its core's deque (the child submitted last) or taken from
   whichever queue holds them. Whatever runs beneath a wait thus waits, if
   it waits at all, on tokens that are not on that thread's stack or on one
   that closes a cycle of waits the caller made; so no wait deadlocks. A
   timed wait and tg_wait_any run nothing beneath themselves (the run
   would overrun the timeout, or hold the waiter up after another member
   ended): they sleep and a spare takes the core. Tokens pinned to another
   core (sticky keys, domains), tokens of a storage tier, of a paused op or
   past their deadline are left to their queues. Runs nest at most
   stack_size / 32 KiB deep (256 with the default 8 MiB): deeper, the wait
   sleeps and a spare takes over.
   Past the limits: when max_spare_workers spares exist and none is free, a
   wait keeps its core while it sleeps (the other cores and the spares
   already running go on); one without a timeout still runs the tokens it
   waits for, then up to stack_size / 16 KiB deep and from any core.
   Should nothing in the scheduler be able to move while such a wait needs
   a token only its threads can start (queued, the queued leader of a
   dedupe follower, waiting for its dependencies, or set aside at its
   tier's cap while the tier's running tokens all wait), it returns
   TG_EDEADLK after 50 ms; one such wait giving up often lets the others
   go on (tier tokens waiting on more tokens of their tier than its cap:
   TG_EDEADLK, not a hang). A wait for a token held by a pause waits for
   the resume.
   TG_EDEADLK also reports: a task waiting on itself, or on a token whose
   function runs beneath it on the same thread (a cycle of waits); and a
   blocking tg_submit in a task once nothing in the scheduler has run for
   50 ms while tasks wait for room (every worker is blocked on admission:
   max_tokens is too small for the recursion). A cycle of waits through
   tokens running on other threads cannot be seen: it waits forever (or
   for its timeout). A recursion that holds the handles of its children
   while it waits needs about (children per level) x (depth) slots for
   each thread that runs a branch of it, and a wait that sleeps lets a
   spare start another branch: give max_tokens a wide margin over
   workers x children x depth, or use TG_FULL_REJECT.
   Time: tg_info's blocked_ns and tg_op_stats' blocked_ns count the time a
   function slept holding its core, and everything from the moment it
   handed its core on to its return; the run-time percentiles, the per-core
   run_ns and the concurrency ratio count only the rest (time on a core).
*/

/* The implementation needs POSIX and Linux declarations: include this header
   with TOKENGATE_IMPLEMENTATION before any other header of that file. */
#if defined(TOKENGATE_IMPLEMENTATION) && !defined(_GNU_SOURCE)
#  define _GNU_SOURCE
#endif

#ifndef TOKENGATE_H
#define TOKENGATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TG_API
#  ifdef TG_STATIC
#    define TG_API static
#  else
#    define TG_API extern
#  endif
#endif

#define TG_VERSION_MAJOR 0
#define TG_VERSION_MINOR 1
#define TG_VERSION_PATCH 0
#define TG_VERSION_STRING "0.1.0"

#define TG_MAX_WORKERS 256
#define TG_MAX_TOKENS (1u << 28)

/* ------------------------------------------------------------------ errors */

/* X(name, value, message): the only list of error codes. */
#define TG_ERROR_LIST(X)                                                        \
    X(TG_OK,          0,   "success")                                          \
    X(TG_EINVAL,     -1,   "invalid argument")                                 \
    X(TG_ENOMEM,     -2,   "out of memory")                                    \
    X(TG_ESTALE,     -3,   "stale or released token handle")                   \
    X(TG_EBUSY,      -4,   "full: mailbox or token limit reached")             \
    X(TG_ESHUTDOWN,  -5,   "scheduler is shut down")                           \
    X(TG_ETIMEDOUT,  -6,   "timed out (a wait: the token is live; a submit: nothing submitted)") \
    X(TG_EFAILED,    -7,   "token failed: its function returned non-zero")     \
    X(TG_EKILLED,    -8,   "token was killed")                                 \
    X(TG_EDEADLINE,  -9,   "token passed its deadline")                        \
    X(TG_E2BIG,      -10,  "arguments larger than max_args_size")              \
    X(TG_ESYSTEM,    -11,  "system call failed")                               \
    X(TG_EDEADLK,    -12,  "call would wait on itself")                        \
    X(TG_EPIN,       -13,  "could not pin a worker to its CPU (reserved)")     \
    X(TG_EBLOCKED,   -14,  "operation is blocked by the health guard")        \
    X(TG_ENOOP,      -15,  "no operation of that name was ever submitted")    \
    X(TG_EOPLIMIT,   -16,  "more distinct operations than max_ops")          \
    X(TG_ERANGE,     -17,  "buffer too small; *len holds the size needed")       \
    X(TG_EFORKED,    -18,  "scheduler inherited across fork(): unusable here") \
    X(TG_EDEPENDENCY, -19, "a dependency did not complete: the token never ran")

typedef enum tg_error {
#define TG__ERROR_ENUM(name, value, message) name = value,
    TG_ERROR_LIST(TG__ERROR_ENUM)
#undef TG__ERROR_ENUM
    TG__ERROR_LAST = -19      /* the last code of the list */
} tg_error;

TG_API const char *tg_strerror(int code);

/* ------------------------------------------------------- values and handles */

typedef struct tg_scheduler tg_scheduler;            /* opaque */
typedef struct tg_token { uint64_t bits; } tg_token; /* slot index + generation */

#ifdef __cplusplus
#  define TG_TOKEN_NONE (tg_token{0})
#else
#  define TG_TOKEN_NONE ((tg_token){0})
#endif

typedef union tg_value { int64_t i; uint64_t u; double f; void *p; } tg_value;

typedef enum tg_weight { TG_MEDIUM = 0, TG_LIGHT, TG_HEAVY } tg_weight;

typedef enum tg_state {
    TG_CREATED, TG_WAITING, TG_ADMITTED, TG_EXECUTING,  /* live */
    TG_COMPLETED, TG_FAILED, TG_KILLED, TG_TIMEOUT      /* terminal */
} tg_state;

/* Name of a state ("completed", ...), or "unknown". */
TG_API const char *tg_state_name(tg_state state);

/* ------------------------------------------------------------- operations */

typedef int (*tg_fn)(const void *args, tg_value *result); /* 0 = success */

enum {
    TG_IO_NONE = 0, TG_IO_SLOW, TG_IO_MODERATE, TG_IO_FAST, TG_IO_INSANE
};

enum {
    TG_OP_NOTIFY = 1u << 0,   /* ended tokens are reported on the completion fd */
    TG_OP_DEDUPE = 1u << 1,   /* equal live submissions share one run (section 17) */
    TG_OP_ALWAYS_RUN = 1u << 2 /* runs after its dependencies whatever their outcome */
};

typedef struct tg_op {
    const char *name;                   /* required */
    tg_fn fn;                           /* required */
    tg_weight weight;                   /* default TG_MEDIUM */
    const char *sticky_anchor;          /* sticky key prefix ("" = the name); section 11 */
    const char *const *external_calls;  /* NULL-terminated: tokens lead a domain; section 12 */
    int max_retries;                    /* a failed run is retried this often (0..65535) */
    int64_t timeout_ns;                 /* > 0: a deadline this long after submission */
    int io_tier;                        /* TG_IO_*: caps how many run at once (section 16) */
    unsigned flags;                     /* TG_OP_NOTIFY, ... */
    unsigned max_live;                  /* live tokens of this op at once; 0: no limit */
} tg_op;

/* TG_OPERATION(name, ArgType, tags...): see section 9. */
#define TG_OPERATION(...) TG__OPERATION(__VA_ARGS__, )
#define TG__OPERATION(tg__name, ArgType, ...)                                    \
    static int tg__op_fn_##tg__name(const void *tg__args, tg_value *tg__result) \
    { return tg__name((const ArgType *)tg__args, tg__result); }                 \
    static const tg_op tg__name##_op = { .name = #tg__name,                      \
                                         .fn = tg__op_fn_##tg__name, __VA_ARGS__ }; \
    static inline int tg__name##_submit(tg_scheduler *tg__s, ArgType tg__a,     \
                                        tg_token *tg__out)                      \
    { return tg_submit(tg__s, &tg__name##_op, &tg__a, sizeof tg__a, tg__out); }

/* -------------------------------------------------------------- scheduler */

enum { TG_FULL_BLOCK = 0, TG_FULL_REJECT = 1 };
enum { TG_DRAIN = 0, TG_CANCEL = 1 };
enum { TG_LOG_WARN = 1, TG_LOG_ERROR = 2 };

typedef struct tg_allocator {
    void *(*alloc)(size_t size, void *user);          /* NULL on failure */
    void (*free)(void *ptr, size_t size, void *user); /* ptr may be NULL */
    void *user;
} tg_allocator;

/* A field left 0 takes its default: the table of section 4 gives each
   default and range. */
typedef struct tg_config {
    unsigned workers;          /* 0: one per CPU in the affinity mask */
    int no_pin;                /* nonzero: do not pin workers */
    unsigned mailbox_capacity; /* per core */
    unsigned max_tokens;       /* tokens at once */
    int full_policy;           /* TG_FULL_BLOCK or TG_FULL_REJECT */
    int strict_routing;        /* nonzero: weight ranges are hard */
    size_t max_args_size;      /* bytes of one token's arguments */
    unsigned max_ops;          /* distinct operations */
    unsigned dedupe_capacity;  /* TG_OP_DEDUPE table entries */
    unsigned tier_caps[TG_IO_INSANE + 1]; /* running tokens per io_tier
                                             (index TG_IO_*; [0] unused) */
    int auto_block;            /* nonzero: the health guard refuses failing ops */
    unsigned sticky_capacity;  /* sticky registry entries */
    unsigned max_domains;      /* hash-conductor domains at once */
    unsigned max_spare_workers; /* threads beyond workers, for blocked tasks */
    size_t stack_size;         /* bytes of every worker thread's stack */
    void (*log)(void *user, int level, const char *message); /* NULL: stderr */
    void *log_user;
    tg_allocator allocator;    /* zero: malloc/free */
} tg_config;

/* Creates a scheduler and starts its workers. cfg may be NULL.
   TG_EINVAL on a bad config value, TG_ENOMEM, TG_ESYSTEM (thread or fd).
   A failure to pin a worker is logged as a warning and counted in
   tg_stats.pin_failures; the worker runs unpinned. Any thread. */
TG_API int tg_create(const tg_config *cfg, tg_scheduler **out);

/* Stops accepting outside submissions (TG_ESHUTDOWN from then on; tokens
   submitted by running tasks are still accepted under TG_DRAIN) and then
   TG_DRAIN: runs every admitted token to its end;
   TG_CANCEL: kills every token that has not started, at once (its waiters
   return TG_EKILLED without waiting for a worker to get to it), and asks
   running ones to stop (tg_should_stop): they end KILLED, their results
   discarded.
   Waits up to timeout_ns (negative: forever) for running functions to
   return; past it, the tokens still running are marked KILLED for their
   waiters, their results will be discarded, no further token starts, and
   TG_ETIMEDOUT is returned. Either way no token is live afterwards and
   every waiter has returned or will return at once; the workers stay
   (parked, no CPU) until tg_destroy. Calls made at once each wait with
   their own timeout (TG_CANCEL if any of them asks it); a call after one
   returned returns TG_OK at once. Outside threads only (TG_EDEADLK from a
   task). */
TG_API int tg_shutdown(tg_scheduler *s, int mode, int64_t timeout_ns);

/* Shuts down with TG_CANCEL if still running, joins the workers (waiting for
   functions still running), frees everything. s may be NULL. Outside threads
   only; every handle becomes invalid. */
TG_API void tg_destroy(tg_scheduler *s);

/* Number of workers (cores) of the scheduler, or 0 for NULL. */
TG_API unsigned tg_worker_count(const tg_scheduler *s);

/* ----------------------------------------------------- submit and await */

/* Copies args_size bytes of args into a new token and routes it.
   out == NULL: detached, released by itself when it ends.
   TG_EINVAL (s, op, op->name or op->fn NULL; weight out of range; args NULL
   with args_size > 0; bad max_retries or external_calls), TG_E2BIG,
   TG_EBUSY (full under TG_FULL_REJECT: max_tokens, the op's max_live, or
   its mailbox), TG_ESHUTDOWN, TG_ENOMEM, TG_EBLOCKED, TG_EOPLIMIT. On
   error *out is TG_TOKEN_NONE. Any thread. */
TG_API int tg_submit(tg_scheduler *s, const tg_op *op, const void *args,
                     size_t args_size, tg_token *out);
/* tg_submit that, under TG_FULL_BLOCK, waits at most timeout_ns for room
   (a slot, the op's max_live, a mailbox): TG_ETIMEDOUT past it, nothing
   submitted. Negative: no limit (tg_submit); 0: never waits. */
TG_API int tg_submit_timeout(tg_scheduler *s, const tg_op *op, const void *args,
                             size_t args_size, tg_token *out, int64_t timeout_ns);

/* tg_submit of a token admitted only once every token of after[] has
   ended (after_count 0: tg_submit). No thread waits for that: the end of
   the last dependency admits it. Until then it is WAITING, in no queue.
   If a dependency did not end COMPLETED, it never runs and ends KILLED
   (tg_wait: TG_EDEPENDENCY; tg_info.dependency names it), unless its op
   has TG_OP_ALWAYS_RUN. The after[] handles are the caller's still (it may
   release them right after the call); an ended one counts as ended. A
   stale or forged one: TG_ESTALE / TG_EINVAL, nothing submitted. An op
   with TG_OP_DEDUPE: TG_EINVAL. Other errors as tg_submit. */
TG_API int tg_submit_after(tg_scheduler *s, const tg_op *op, const void *args, size_t args_size,
                           const tg_token *after, size_t after_count, tg_token *out);

/* count tokens of op whose arguments are the consecutive args_size-byte
   blocks at args, submitted in order as by tg_submit. out: NULL (all
   detached) or an array of count handles. Stops at the first error (the
   full policy's TG_EBUSY, TG_ESHUTDOWN, ...), which it returns:
   *submitted (may be NULL) says how many of the first ones went in, and
   out[i] is TG_TOKEN_NONE from there on. count == 0: TG_OK once s and op
   are valid (args is not read). args_size over max_args_size: TG_E2BIG;
   count * args_size past SIZE_MAX: TG_EINVAL. */
TG_API int tg_submit_batch(tg_scheduler *s, const tg_op *op, const void *args, size_t args_size,
                           size_t count, tg_token *out, size_t *submitted);

/* Groups (structured concurrency): a scope whose wait covers its members
   and every token they submit, at any depth.
   tg_group_create: a new group of s. Made inside a task that is itself a
     member of a group, it is that group's child: while it has live
     members it counts as one member of the parent (the parent's wait and
     cancel cover it). TG_EINVAL, TG_ENOMEM, TG_EFORKED.
   tg_group_submit: as tg_submit, the token a member of g (out may be
     NULL: detached, the group's to wait for). Tokens that a member's
     function submits (tg_submit, tg_submit_batch, tg_submit_after) join
     the member's group too. A cancelled or destroyed group: TG_EKILLED,
     nothing submitted (so is a submission from inside one of its members).
   tg_group_wait: until every member and descendant has ended (timeout_ns
     -1: forever, 0: a poll). TG_OK if every member of g completed, else
     the code of the first one that did not (TG_EFAILED, TG_EKILLED,
     TG_EDEADLINE, TG_EDEPENDENCY; members of a child group report to that
     group's wait); it stays until the group is destroyed. TG_ETIMEDOUT:
     members are still live. Inside a task, without a timeout, it runs
     members queued on its core beneath itself; otherwise it sleeps with
     its core handed to a spare, as tg_wait. A task that is (or runs
     beneath) a member of g or of a descendant gets TG_EDEADLK. The group
     can take more members after a wait.
   tg_group_cancel: no member of g or of its descendants starts from here:
     unstarted ones end KILLED, running ones are asked to stop
     (tg_should_stop), and later submissions into g get TG_EKILLED. TG_OK.
   tg_group_destroy: the caller is done with g. Members still live are
     cancelled (as tg_group_cancel) and the group's memory goes back once
     the last has ended; destroy itself returns at once. Destroy every
     group before tg_destroy of its scheduler; g is invalid afterwards
     (a call with it gets TG_EINVAL until its memory serves a new group).
   g NULL, or not a group in use: TG_EINVAL. */
typedef struct tg_group tg_group;
TG_API int tg_group_create(tg_scheduler *s, tg_group **out);
TG_API int tg_group_submit(tg_group *g, const tg_op *op, const void *args, size_t args_size,
                           tg_token *out);
TG_API int tg_group_wait(tg_group *g, int64_t timeout_ns);
TG_API int tg_group_cancel(tg_group *g);
TG_API void tg_group_destroy(tg_group *g);

/* Current state, never blocks. TG_OK, TG_ESTALE, TG_EINVAL. */
TG_API int tg_poll(tg_scheduler *s, tg_token t, tg_state *state);

/* Waits up to timeout_ns for the token to end (negative: forever, 0: poll).
   TG_OK: COMPLETED, *result set (result may be NULL); TG_EFAILED; TG_EKILLED;
   TG_EDEADLINE (TIMEOUT); TG_ETIMEDOUT: this wait ran out, the token is live;
   TG_ESTALE (released, also when released while this wait slept);
   TG_EDEADLK: a task waits on itself (or on a token running beneath it on
   its thread), or waits past the spare limit with nothing able to move
   (section 21). The handle stays valid. */
TG_API int tg_wait(tg_scheduler *s, tg_token t, int64_t timeout_ns,
                   tg_value *result);

/* TG_OK once all n tokens are terminal, TG_ETIMEDOUT, or the first error a
   handle gives (TG_ESTALE, TG_EINVAL, TG_EDEADLK). n == 0: TG_OK. */
TG_API int tg_wait_all(tg_scheduler *s, const tg_token *t, size_t n,
                       int64_t timeout_ns);

/* TG_OK and *index of the first terminal token in array order, TG_ETIMEDOUT,
   or a handle's error. n == 0 or index NULL: TG_EINVAL. */
TG_API int tg_wait_any(tg_scheduler *s, const tg_token *t, size_t n,
                       int64_t timeout_ns, size_t *index);

/* Waits until all n tokens ended (tg_wait_all), then writes each one's
   outcome: codes[i] is what tg_wait would return for t[i] (TG_OK,
   TG_EFAILED, TG_EKILLED, TG_EDEADLINE, TG_ESTALE if another thread
   released it meanwhile) and values[i] its result (zero unless TG_OK);
   values and codes may be NULL. Returns TG_OK once all ended, whatever
   their outcomes; TG_ETIMEDOUT (nothing written) or the first handle's
   error (TG_ESTALE, TG_EINVAL, TG_EDEADLK) as tg_wait_all. n == 0:
   TG_OK. The handles stay valid. */
TG_API int tg_gather(tg_scheduler *s, const tg_token *t, size_t n, int64_t timeout_ns,
                     tg_value *values, int *codes);
/* tg_wait, then, once the token has ended (any of TG_OK, TG_EFAILED,
   TG_EKILLED, TG_EDEADLINE, TG_EDEPENDENCY), tg_release: the common path in one call.
   On TG_ETIMEDOUT or a handle's error the handle is kept. */
TG_API int tg_wait_release(tg_scheduler *s, tg_token t, int64_t timeout_ns, tg_value *result);
/* tg_gather, then, when it returns TG_OK, tg_release of every handle. */
TG_API int tg_gather_release(tg_scheduler *s, const tg_token *t, size_t n, int64_t timeout_ns,
                             tg_value *values, int *codes);

/* Waits until no token of the scheduler is live (every token submitted so
   far, detached ones included, has ended): the counterpart of a thread
   pool's "wait for all". Tokens submitted meanwhile by other threads count
   too. TG_OK, TG_ETIMEDOUT, TG_EDEADLK from inside a task (the task itself
   is live), TG_EINVAL. Outside threads. */
TG_API int tg_wait_idle(tg_scheduler *s, int64_t timeout_ns);

/* Gives the handle back. A live token keeps running (detached); an ended one
   frees its slot. A second release: TG_ESTALE. */
TG_API int tg_release(tg_scheduler *s, tg_token t);

/* Kills the token: one not started yet becomes KILLED and never runs; a
   running one is asked to stop (tg_should_stop() turns nonzero) and ends
   KILLED, its result discarded. Killing an ended token is TG_OK and changes
   nothing. A lead's kill also kills its open domain's members, even once
   the lead has ended (section 12). TG_ESTALE, TG_EINVAL. */
TG_API int tg_kill(tg_scheduler *s, tg_token t);

typedef struct tg_token_info {
    tg_state state;
    const char *op;              /* the op's name */
    tg_weight weight;
    int core;                    /* core it ran (or is queued) on; -1: none yet */
    int retries;                 /* runs retried so far */
    int failure_code;            /* the fn's last non-zero return, 0 if none */
    int64_t created_ns, waiting_ns, admitted_ns, started_ns, ended_ns; /* 0 = not reached */
    int64_t blocked_ns;          /* of its runs so far, the time spent blocked
                                  (section 21), to the microsecond */
    char seed[65];               /* domain seed in hex, "" if none */
    tg_token dependency;         /* KILLED because this dependency did not
                                    complete (tg_wait: TG_EDEPENDENCY);
                                    else TG_TOKEN_NONE */
} tg_token_info;

TG_API int tg_info(tg_scheduler *s, tg_token t, tg_token_info *info);

/* The completion eventfd (section 8), or a negative TG_E* code. */
TG_API int tg_completion_fd(tg_scheduler *s);
/* Moves up to cap handles of ended TG_OP_NOTIFY tokens into out; returns how
   many. The handles still need tg_release. Safe from several threads. */
TG_API size_t tg_completions(tg_scheduler *s, tg_token *out, size_t cap);

/* ------------------------------------------------------------ inside a task */

TG_API tg_token tg_self(void);        /* running token, TG_TOKEN_NONE outside */
TG_API tg_scheduler *tg_current_scheduler(void); /* the running task's, NULL outside */
TG_API int tg_current_core(void);     /* worker index, -1 outside a task's worker */
/* Around code of a task that blocks (a system call, a sleep, a lock held
   elsewhere): the task's core goes to a spare worker meanwhile, so other
   tokens run on it (section 21). Sections nest within one task; one still
   open when the function returns ends there. Outside a task both do
   nothing and return TG_OK; tg_blocking_end without a begin of the same
   task: TG_EINVAL. */
TG_API int tg_blocking_begin(void);
TG_API int tg_blocking_end(void);
TG_API int tg_should_stop(void);      /* nonzero once the running token is killed */

/* ---------------------------------------------------------------- sha-256 */

/* SHA-256 (FIPS 180-4). No scheduler involved; any thread may call these,
   each context used by one thread at a time. A NULL pointer makes a call do
   nothing, except data == NULL with len == 0, which is the empty input. */
typedef struct tg_sha256_ctx {
    uint32_t state[8];        /* intermediate hash value H0..H7 */
    uint64_t length;          /* message bytes absorbed so far */
    unsigned char block[64];  /* a partial block not yet compressed */
    unsigned fill;            /* bytes held in block, 0..63 */
} tg_sha256_ctx;

/* Starts a new message. */
TG_API void tg_sha256_init(tg_sha256_ctx *ctx);
/* Absorbs len bytes of data; data may be NULL when len == 0. */
TG_API void tg_sha256_update(tg_sha256_ctx *ctx, const void *data,
                             size_t len);
/* Pads, writes the 32-byte digest and wipes ctx (init it again to reuse). */
TG_API void tg_sha256_final(tg_sha256_ctx *ctx, uint8_t digest[32]);
/* The digest of one whole message: init, update and final in one call. */
TG_API void tg_sha256(const void *data, size_t len, uint8_t digest[32]);
/* Writes digest as 64 lowercase hex digits and a terminating NUL. */
TG_API void tg_sha256_hex(const uint8_t digest[32], char hex[65]);

/* ---------------------------------------------------------------- control */

/* Global pause: workers start no token until tg_resume (running ones go on;
   submissions are still accepted). Per op (by name; every tg_op with that
   name): tg_op_pause holds the op's tokens back (they wait, in FIFO order,
   and other ops run on); tg_op_resume releases them; tg_op_drain kills the
   op's tokens submitted before the call that have not started; tg_op_kill
   also asks its running ones to stop; tg_op_unblock lifts the health
   guard's block. TG_ENOOP for a name never submitted, TG_ESHUTDOWN once the
   scheduler is shutting down. Section 13. */
TG_API int tg_pause(tg_scheduler *s);
TG_API int tg_resume(tg_scheduler *s);
TG_API int tg_op_pause(tg_scheduler *s, const char *op);
TG_API int tg_op_resume(tg_scheduler *s, const char *op);
TG_API int tg_op_drain(tg_scheduler *s, const char *op);
TG_API int tg_op_kill(tg_scheduler *s, const char *op);
TG_API int tg_op_unblock(tg_scheduler *s, const char *op);

enum {
    TG_HEALTH_UNKNOWN = 0,  /* fewer than 5 attempts */
    TG_HEALTH_EXCELLENT,    /* >= 95% of attempts succeeded */
    TG_HEALTH_HEALTHY,      /* >= 80% */
    TG_HEALTH_AT_RISK,      /* >= 50% */
    TG_HEALTH_PROBLEMATIC   /* below */
};

/* Counts of one operation (summed over every tg_op with that name). */
struct tg_op_stats {
    const char *name;
    uint64_t attempts;     /* runs that returned (successes + failures) */
    uint64_t successes;    /* runs that returned 0 */
    uint64_t failures;     /* runs that returned non-zero */
    uint64_t retried;      /* failed runs queued again */
    uint64_t failed, killed, timed_out; /* tokens that ended so */
    int health;            /* TG_HEALTH_* */
    int paused;            /* tg_op_pause in force */
    int blocked;           /* refused by the health guard */
    /* run time (function start to return) and queue wait (admission to
       start) of the runs, from log-linear histograms: each percentile is
       the upper edge of its bucket (at most 25% above the true value) */
    uint64_t exec_p50_ns, exec_p95_ns, exec_p99_ns;
    uint64_t wait_p50_ns, wait_p95_ns, wait_p99_ns;
    uint64_t blocked_ns;   /* summed time its runs spent blocked (not in exec) */
};

TG_API int tg_op_stats(tg_scheduler *s, const char *op, struct tg_op_stats *out);
TG_API const char *tg_health_name(int health); /* "excellent", ...; "unknown" */

/* -------------------------------------------------------------- telemetry */

typedef struct tg_core_stats {
    uint64_t executed;        /* functions run by this core's worker */
    uint64_t run_ns;          /* summed run time of those functions (busy time) */
    uint64_t stolen;          /* tokens this worker took from other cores */
    uint32_t mailbox_depth;   /* tokens waiting in its mailbox and deque */
    int busy;                 /* running a function right now */
    int cpu;                  /* CPU the worker is pinned to, -1 if not */
} tg_core_stats;

/* A struct tag without a typedef: the function tg_stats takes the name. */
struct tg_stats {
    unsigned workers;
    uint64_t submitted, completed, failed, killed, timed_out;
    uint64_t admitted;        /* tokens that reached a run queue (dedupe
                                 followers never do; see section 19) */
    uint64_t retried;         /* failed runs queued again (all ops) */
    uint64_t live;            /* submitted and not yet terminal */
    uint32_t ops;             /* distinct op names seen (tg_op_names) */
    int64_t uptime_ns;        /* since tg_create */
    uint64_t slots_in_use;    /* live plus ended-but-unreleased (and killed
                                 ones whose queue entry is not dropped yet) */
    uint64_t slots_allocated; /* slots backed by memory */
    uint64_t pin_failures;
    int paused;               /* tg_pause in force */
    /* summed run time of the functions / wall time: since tg_create, and
       over the last whole second */
    double concurrency_since_start;
    double concurrency_last_second;
    uint64_t dedupe_joined;   /* TG_OP_DEDUPE submissions that joined a live token */
    uint64_t dedupe_overflow; /* ...that ran alone: their table entry was taken */
    /* spare workers (section 21): threads beyond the cores that exist,
       that serve a core or run a blocked task now, the most at once; and
       how often a core was handed to one */
    uint32_t spares_alive, spares_running, spares_peak;
    uint64_t handoffs;
    uint32_t tier_running[TG_IO_INSANE + 1]; /* tokens of each io_tier running ([0] unused) */
    uint32_t tier_waiting[TG_IO_INSANE + 1]; /* ...and set aside at the tier's cap */
    /* locality (sections 11 and 12) */
    uint64_t sticky_keys;     /* sticky keys pinned to a core right now */
    uint64_t sticky_overflow; /* sticky tokens routed freely: entry held by another key */
    uint64_t domains_open;    /* domains with a live member (seed pinned) */
    uint64_t domains_kept;    /* domain entries still named by a member's slot */
    uint64_t domain_overflow; /* leads that found no free domain entry */
    uint64_t domain_late;     /* tokens submitted after their domain was released */
    tg_core_stats cores[TG_MAX_WORKERS];
};

/* Snapshot of the counters; reads without locks, so the counts of a running
   scheduler are each exact but not taken at one instant. Any thread. */
TG_API int tg_stats(tg_scheduler *s, struct tg_stats *out);

/* The distinct op names seen so far, in first-submission order: writes up
   to cap of them (the scheduler's own copies, valid until tg_destroy) and
   returns how many there are. cap 0 (names may be NULL) only counts. Any
   thread. */
TG_API size_t tg_op_names(tg_scheduler *s, const char **names, size_t cap);

/* tg_stats, every op's tg_op_stats and the per-core figures as one JSON
   object (section 19), or as Prometheus text exposition (format 0.0.4).
   Writes at most cap bytes including a terminating NUL. TG_OK: *len (if
   not NULL) is the text's length without the NUL. TG_ERANGE when cap is
   too small: *len is then a buffer size to allocate (the text, its NUL and
   headroom for counters that grow meanwhile). Ask with buf NULL and cap 0,
   allocate *len, call again; on TG_ERANGE again, grow to the new *len.
   Any thread; no lock on the token path. */
TG_API int tg_stats_json(tg_scheduler *s, char *buf, size_t cap, size_t *len);
TG_API int tg_stats_prometheus(tg_scheduler *s, char *buf, size_t cap, size_t *len);

/* ---------------------------------------------------------------- monitor */

#ifdef TOKENGATE_MONITOR
/* The live monitor (section 20): an HTTP/1.1 and WebSocket server on a
   thread of its own, compiled only with TOKENGATE_MONITOR defined. */
typedef struct tg_monitor tg_monitor;

#define TG_MONITOR_ANY_PORT (-1)   /* tg_monitor_options.port: the kernel picks */

typedef struct tg_monitor_options {
    const char *address;        /* IPv4 address to bind; NULL: "127.0.0.1" */
    int port;                   /* 0: 5000; TG_MONITOR_ANY_PORT: any free port */
    const char *access_token;   /* 1..128 printable ASCII bytes, no space;
                                   NULL: 32 random hex digits, printed once */
    unsigned max_connections;   /* 0: 16 (at most 1024) */
    unsigned interval_ms;       /* stats frames to each client; 0: 500 (50..60000) */
    unsigned client_timeout_ms; /* a request head or a frame must arrive in; 0: 5000 */
    int quiet;                  /* nonzero: print nothing to stderr */
} tg_monitor_options;

/* Starts serving s (opts may be NULL: all defaults). TG_EINVAL for a bad
   option, TG_ESYSTEM if the address cannot be bound (errno tells why),
   TG_ENOMEM. Stop the monitor before tg_destroy. Any thread. */
TG_API int tg_monitor_start(tg_scheduler *s, const tg_monitor_options *opts, tg_monitor **out);
/* The port it listens on (useful with TG_MONITOR_ANY_PORT). */
TG_API int tg_monitor_port(const tg_monitor *m);
/* The access token (configured or generated), NUL-terminated. */
TG_API const char *tg_monitor_token(const tg_monitor *m);
/* Closes every connection, joins the server thread and frees m. NULL: no-op. */
TG_API void tg_monitor_stop(tg_monitor *m);
#endif /* TOKENGATE_MONITOR */

#ifdef __cplusplus
}
#endif
#endif /* TOKENGATE_H */

/* ======================================================================== */
/*                              IMPLEMENTATION                              */
/* ======================================================================== */
#ifdef TOKENGATE_IMPLEMENTATION
#ifndef TOKENGATE_IMPLEMENTATION_ONCE
#define TOKENGATE_IMPLEMENTATION_ONCE

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

/* The implementation uses GNU/Linux declarations (syscall, sched_getcpu,
   accept4). glibc decides what its headers declare when the first of them
   is included: if that happened before _GNU_SOURCE was defined here, say
   so instead of failing on implicit declarations. */
#if !defined(CLOCK_MONOTONIC) || !defined(FUTEX_WAIT_PRIVATE) || (defined(__GLIBC__) && !defined(__USE_GNU))
#  error "tokengate.h: a system header was included before the implementation without _GNU_SOURCE. Put #define TOKENGATE_IMPLEMENTATION and #include \"tokengate.h\" before every other #include of that .c file, or compile it with -D_GNU_SOURCE."
#endif

/* Defining the implementation in two translation units makes the linker
   report this symbol twice. */
int tg__implementation_defined_once = 1;

#ifndef TG_ASSERT
#  include <assert.h>
#  define TG_ASSERT(cond) assert(cond)
#endif

/* ------------------------------------------------------------------------ */
/* Platform: atomics, clock, futex, affinity                                */
/* ------------------------------------------------------------------------ */
/* >>platform */

/* Every shared field is touched only through these: the only raw atomic
   builtins of the file are between the two >>atomics markers (a check of
   `make test` holds to it). A relaxed operation is the default and needs no
   comment; every ordering stronger than relaxed is explained where it is
   used: what it orders and which line it pairs with. */
/* >>atomics-begin: the only raw __atomic_ builtins of the file */
#define TG__LOAD_RELAXED(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define TG__LOAD_ACQUIRE(p)      __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define TG__LOAD_SEQ_CST(p)      __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define TG__STORE_RELAXED(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define TG__STORE_RELEASE(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define TG__STORE_SEQ_CST(p, v)  __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define TG__EXCHANGE(p, v)       __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#define TG__FETCH_ADD(p, v)      __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)
#define TG__FETCH_SUB(p, v)      __atomic_fetch_sub((p), (v), __ATOMIC_ACQ_REL)
#define TG__FETCH_ADD_SEQ_CST(p, v) __atomic_fetch_add((p), (v), __ATOMIC_SEQ_CST)
#define TG__FETCH_SUB_SEQ_CST(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_SEQ_CST)
#define TG__FETCH_OR(p, v)       __atomic_fetch_or((p), (v), __ATOMIC_ACQ_REL)
#define TG__FETCH_AND(p, v)      __atomic_fetch_and((p), (v), __ATOMIC_ACQ_REL)
#define TG__FETCH_ADD_RELAXED(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)
#define TG__FETCH_SUB_RELAXED(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELAXED)
#define TG__FETCH_SUB_RELEASE(p, v) __atomic_fetch_sub((p), (v), __ATOMIC_RELEASE)
/* Compare-and-swap; on failure *expected holds the current value. */
#define TG__CAS(p, expected, desired, success, failure) \
    __atomic_compare_exchange_n((p), (expected), (desired), 0, (success), (failure))

/* A full fence for the store-then-load (Dekker) hand-shakes: a producer
   publishes work then reads "sleeping"; a sleeper sets "sleeping" then looks
   for work. ThreadSanitizer does not model fences, so under it a seq_cst
   read-modify-write on a shared dummy stands in (same effect on x86). */
#if defined(__SANITIZE_THREAD__)
#  define TG__TSAN 1
#elif defined(__has_feature)
#  if __has_feature(thread_sanitizer)
#    define TG__TSAN 1
#  endif
#endif
#ifdef TG__TSAN
static unsigned tg__fence_dummy;
#  define TG__FENCE_SEQ_CST() ((void)__atomic_fetch_add(&tg__fence_dummy, 0u, __ATOMIC_SEQ_CST))
#else
#  define TG__FENCE_SEQ_CST() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
/* >>atomics-end */

#if defined(__cplusplus)
#  define TG__THREAD_LOCAL thread_local
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#  define TG__THREAD_LOCAL _Thread_local
#else
#  define TG__THREAD_LOCAL __thread
#endif

#define TG__CACHE_LINE 64
#define TG__ALIGNED_LINE __attribute__((aligned(TG__CACHE_LINE)))
#define TG__LIKELY(x)   __builtin_expect(!!(x), 1)
#define TG__UNLIKELY(x) __builtin_expect(!!(x), 0)
/* The steps of running a token, called from two places each (the queues
   and a task's wait): inlined into both, as one function would be. */
#define TG__HOT_INLINE  static inline __attribute__((always_inline))
#define TG__UNUSED(x) ((void)(x))

static inline void tg__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static inline int64_t tg__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Workers stamp tokens through the CPU's time-stamp counter when it is
   invariant (x86-64): 11 ns a read here against 26 ns for clock_gettime.
   tg__tsc_mult converts ticks to ns (32.32 fixed point), calibrated once per
   process against CLOCK_MONOTONIC; each thread re-anchors its conversion to
   a real clock_gettime every millisecond, so its stamps stay within a few
   hundred ns of CLOCK_MONOTONIC. 0 means: no usable TSC, use the clock. */
static uint64_t tg__tsc_mult;
static int tg__cpu_prefetchw;    /* PREFETCHW is there (CPUID 0x80000001 ECX bit 8) */
static pthread_once_t tg__tsc_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
static void tg__cpuid(unsigned leaf, unsigned regs[4])
{
    __asm__ __volatile__("cpuid" : "=a"(regs[0]), "=b"(regs[1]), "=c"(regs[2]), "=d"(regs[3])
                         : "a"(leaf), "c"(0u));
}
#endif

#if defined(__x86_64__)
/* CLOCK_MONOTONIC and the counter read together: of a few tries, the one
   whose counter reads bracket the clock's most tightly (a try the thread
   was preempted in is not used), *tsc the middle of the bracket. An error
   here would make every stamp run fast or slow (0.1 ms lost in a 1 ms
   window: 10%). */
static int64_t tg__tsc_sample(uint64_t *tsc)
{
    uint64_t best = UINT64_MAX;
    int64_t ns = 0;
    for (int i = 0; i < 16 && best > 2000; i++) {   /* a tight bracket ends it */
        uint64_t a = __builtin_ia32_rdtsc();
        int64_t n = tg__now_ns();
        uint64_t b = __builtin_ia32_rdtsc();
        if (b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            ns = n;
        }
    }
    return ns;
}
#endif

static void tg__tsc_calibrate(void)
{
#if defined(__x86_64__)
    unsigned regs[4];
    tg__cpuid(0x80000000u, regs);
    unsigned top = regs[0];
    if (top >= 0x80000001u) {
        tg__cpuid(0x80000001u, regs);
        tg__cpu_prefetchw = (regs[2] >> 8) & 1u;
    }
    if (top < 0x80000007u) return;
    tg__cpuid(0x80000007u, regs);
    if (!(regs[3] & (1u << 8))) return;          /* invariant TSC */
    uint64_t t0, t1;
    int64_t n0 = tg__tsc_sample(&t0), n1;
    do {
        n1 = tg__tsc_sample(&t1);
    } while (n1 - n0 < 1000000);                 /* a 1 ms window */
    if (t1 <= t0) return;
    double ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
    if (ns_per_tick <= 0.0 || ns_per_tick > 100.0) return;
    tg__tsc_mult = (uint64_t)(ns_per_tick * 1.0002 * 4294967296.0);
#endif
}

/* Each thread's stamp clock: CLOCK_MONOTONIC ns, through the TSC when
   usable. The conversion is biased 200 ppm fast, so between anchors a stamp
   runs at most ~200 ns ahead of the clock, and an anchor is off by at most
   half its bracket (1 us at most, tg__tsc_sample); a thread's stamps never
   decrease. */
typedef struct tg__stamp_clock {
    uint64_t anchor_tsc;
    int64_t anchor_ns;
    uint64_t refresh_ticks;  /* about 1 ms of ticks; 0 until first use */
    uint64_t mult;           /* tg__tsc_mult, copied: the hot path reads no
                                shared line (a user's variable may sit on
                                the one that holds tg__tsc_mult) */
    int64_t last;            /* the thread's latest stamp: never go back */
} tg__stamp_clock;

static TG__THREAD_LOCAL tg__stamp_clock tg__tls_clock;

static inline int64_t tg__stamp_ns(void)
{
#if defined(__x86_64__)
    tg__stamp_clock *c = &tg__tls_clock;
    uint64_t d = __builtin_ia32_rdtsc() - c->anchor_tsc;
    int64_t t;
    if (TG__LIKELY(d < c->refresh_ticks)) {
        t = c->anchor_ns + (int64_t)((d * c->mult) >> 32);
    } else if (tg__tsc_mult) {
        if (!c->refresh_ticks) {
            c->mult = tg__tsc_mult;
            c->refresh_ticks = (uint64_t)((1000000.0 * 4294967296.0) / (double)tg__tsc_mult);
        }
        /* clock and counter read together (a preemption between the two
           reads would put every stamp of the next millisecond off by it) */
        c->anchor_ns = tg__tsc_sample(&c->anchor_tsc);
        t = c->anchor_ns;
    } else {
        return tg__now_ns();
    }
    /* a re-anchor (the fast bias undone) or a move to a CPU whose counter
       lags must not take the thread's stamps backwards */
    if (TG__LIKELY(t > c->last)) c->last = t;
    return c->last;
#else
    return tg__now_ns();
#endif
}

/* Absolute deadline for a relative timeout; -1 means forever. */
static int64_t tg__deadline_after(int64_t timeout_ns)
{
    if (timeout_ns < 0) return -1;
    int64_t now = tg__now_ns();
    if (timeout_ns > INT64_MAX - now) return -1;
    return now + timeout_ns;
}

/* Sleeps while *word == expected, at most until deadline (-1: forever).
   Returns 0 when woken or the value differed, ETIMEDOUT past the deadline. */
static int tg__futex_wait(uint32_t *word, uint32_t expected, int64_t deadline)
{
    struct timespec ts, *tsp = NULL;
    if (deadline >= 0) {
        int64_t left = deadline - tg__now_ns();
        if (left <= 0) return ETIMEDOUT;
        ts.tv_sec = (time_t)(left / 1000000000);
        ts.tv_nsec = (long)(left % 1000000000);
        tsp = &ts;
    }
    long rc = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, tsp, NULL, 0);
    if (rc == -1 && errno == ETIMEDOUT) return ETIMEDOUT;
    return 0;
}

static void tg__futex_wake(uint32_t *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

static void tg__sleep_ns(int64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    nanosleep(&ts, NULL);
}

#define TG__CPU_MASK_WORDS 128 /* 8192 CPUs */

/* The CPUs of the calling thread's affinity mask, in increasing order. */
static unsigned tg__affinity_cpus(int *cpus, unsigned cap)
{
    unsigned long mask[TG__CPU_MASK_WORDS];
    memset(mask, 0, sizeof mask);
    long rc = syscall(SYS_sched_getaffinity, 0, sizeof mask, mask);
    if (rc <= 0) return 0;
    unsigned count = 0;
    for (unsigned word = 0; word < (unsigned)rc / sizeof(unsigned long); word++)
        for (unsigned bit = 0; bit < 8 * sizeof(unsigned long); bit++)
            if (mask[word] & (1ul << bit)) {
                if (count < cap) cpus[count] = (int)(word * 8 * sizeof(unsigned long) + bit);
                count++;
            }
    return count < cap ? count : cap;
}

/* Pins the calling thread to one CPU. 0 or an errno value. */
static int tg__pin_current_thread(int cpu)
{
    unsigned long mask[TG__CPU_MASK_WORDS];
    if (cpu < 0 || cpu >= (int)(TG__CPU_MASK_WORDS * 8 * sizeof(unsigned long))) return EINVAL;
    memset(mask, 0, sizeof mask);
    mask[(unsigned)cpu / (8 * sizeof(unsigned long))] |= 1ul << ((unsigned)cpu % (8 * sizeof(unsigned long)));
    if (syscall(SYS_sched_setaffinity, 0, sizeof mask, mask) != 0) return errno;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4): the conductor's seeds, and tg_sha256_*             */
/* ------------------------------------------------------------------------ */
/* >>sha256 */

/* Round constants K0..K63: the first 32 bits of the fractional parts of the
   cube roots of the first 64 primes (FIPS 180-4, 4.2.2). */
static const uint32_t tg__sha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u,
    0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu,
    0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u,
    0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u,
    0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u
};

/* Initial hash value H0..H7: the first 32 bits of the fractional parts of
   the square roots of the first 8 primes (FIPS 180-4, 5.3.3). */
static const uint32_t tg__sha256_iv[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u
};

/* The functions of FIPS 180-4, 4.1.2, on uint32_t values. ROTR's n is a
   constant in 1..31, so neither shift is by 0 or 32. Ch is written in an
   equivalent form that takes one operation less; Maj is in the round. */
#define TG__SHA256_ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
#define TG__SHA256_CH(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define TG__SHA256_BSIG0(x)                                                  \
    (TG__SHA256_ROTR(x, 2) ^ TG__SHA256_ROTR(x, 13) ^ TG__SHA256_ROTR(x, 22))
#define TG__SHA256_BSIG1(x)                                                  \
    (TG__SHA256_ROTR(x, 6) ^ TG__SHA256_ROTR(x, 11) ^ TG__SHA256_ROTR(x, 25))
#define TG__SHA256_SSIG0(x)                                                  \
    (TG__SHA256_ROTR(x, 7) ^ TG__SHA256_ROTR(x, 18) ^ ((x) >> 3))
#define TG__SHA256_SSIG1(x)                                                  \
    (TG__SHA256_ROTR(x, 17) ^ TG__SHA256_ROTR(x, 19) ^ ((x) >> 10))

/* Word t (0..15) of the block at p, big-endian, assembled from bytes (any
   alignment; compilers turn it into one load and a byte swap). */
#define TG__SHA256_LOAD(t)                                                   \
    (w[t] = (uint32_t)p[4 * (t)] << 24 | (uint32_t)p[4 * (t) + 1] << 16 |    \
            (uint32_t)p[4 * (t) + 2] << 8 | (uint32_t)p[4 * (t) + 3])

/* Word t (16..63) of the message schedule, written over word t - 16 of the
   16-word window w. */
#define TG__SHA256_NEXT(t)                                                   \
    (w[(t) & 15] += TG__SHA256_SSIG1(w[((t) - 2) & 15]) +                    \
                    w[((t) - 7) & 15] +                                      \
                    TG__SHA256_SSIG0(w[((t) - 15) & 15]))

/* Round t with working variables a..h in the given roles and schedule word
   wt: instead of shifting the eight variables, the next round names them
   one place further along (see TG__SHA256_ROUNDS8). Maj(a, b, c) is taken
   as b ^ ((a ^ b) & (b ^ c)): this round's a ^ b is the next round's b ^ c,
   so it is kept in the local bc. The terms known early (h, K, W) are added
   first, those that wait on the previous round's e and a last. */
#define TG__SHA256_ROUND(a, b, c, d, e, f, g, h, t, wt)                      \
    do {                                                                     \
        uint32_t tg__t1 = (h) + tg__sha256_k[t] + (wt) +                     \
                          TG__SHA256_CH(e, f, g) + TG__SHA256_BSIG1(e);      \
        uint32_t tg__ab = (a) ^ (b);                                         \
        (d) += tg__t1;                                                       \
        (h) = tg__t1 + (((b) ^ (tg__ab & bc)) + TG__SHA256_BSIG0(a));        \
        bc = tg__ab;                                                         \
    } while (0)

/* Rounds t..t+7, W(t) giving the schedule word of round t; after eight
   rounds the variables are back in their first roles. */
#define TG__SHA256_ROUNDS8(t, W)                                             \
    TG__SHA256_ROUND(a, b, c, d, e, f, g, h, (t), W((t)));                   \
    TG__SHA256_ROUND(h, a, b, c, d, e, f, g, (t) + 1, W((t) + 1));           \
    TG__SHA256_ROUND(g, h, a, b, c, d, e, f, (t) + 2, W((t) + 2));           \
    TG__SHA256_ROUND(f, g, h, a, b, c, d, e, (t) + 3, W((t) + 3));           \
    TG__SHA256_ROUND(e, f, g, h, a, b, c, d, (t) + 4, W((t) + 4));           \
    TG__SHA256_ROUND(d, e, f, g, h, a, b, c, (t) + 5, W((t) + 5));           \
    TG__SHA256_ROUND(c, d, e, f, g, h, a, b, (t) + 6, W((t) + 6));           \
    TG__SHA256_ROUND(b, c, d, e, f, g, h, a, (t) + 7, W((t) + 7))

/* Compresses n whole 64-byte blocks at p into state, reading them in place
   (FIPS 180-4, 6.2.2). */
static void tg__sha256_blocks(uint32_t state[8], const unsigned char *p,
                              size_t n)
{
    uint32_t a, b, c, d, e, f, g, h, bc;
    uint32_t w[16];

    for (; n > 0; n--, p += 64) {
        a = state[0]; b = state[1]; c = state[2]; d = state[3];
        e = state[4]; f = state[5]; g = state[6]; h = state[7];
        bc = b ^ c;

        TG__SHA256_ROUNDS8(0, TG__SHA256_LOAD);
        TG__SHA256_ROUNDS8(8, TG__SHA256_LOAD);
        TG__SHA256_ROUNDS8(16, TG__SHA256_NEXT);
        TG__SHA256_ROUNDS8(24, TG__SHA256_NEXT);
        TG__SHA256_ROUNDS8(32, TG__SHA256_NEXT);
        TG__SHA256_ROUNDS8(40, TG__SHA256_NEXT);
        TG__SHA256_ROUNDS8(48, TG__SHA256_NEXT);
        TG__SHA256_ROUNDS8(56, TG__SHA256_NEXT);

        state[0] += a; state[1] += b; state[2] += c; state[3] += d;
        state[4] += e; state[5] += f; state[6] += g; state[7] += h;
    }
}

/* Stores x big-endian at p. */
static void tg__sha256_store32(unsigned char *p, uint32_t x)
{
    p[0] = (unsigned char)(x >> 24);
    p[1] = (unsigned char)(x >> 16);
    p[2] = (unsigned char)(x >> 8);
    p[3] = (unsigned char)x;
}

TG_API void tg_sha256_init(tg_sha256_ctx *ctx)
{
    if (!ctx) return;
    memcpy(ctx->state, tg__sha256_iv, sizeof ctx->state);
    ctx->length = 0;
    ctx->fill = 0;
}

TG_API void tg_sha256_update(tg_sha256_ctx *ctx, const void *data, size_t len)
{
    const unsigned char *p = (const unsigned char *)data;
    size_t whole;

    if (!ctx || !p || len == 0) return;
    ctx->length += (uint64_t)len;

    /* Top up a partial block first; compress it once it is full. */
    if (ctx->fill > 0) {
        size_t room = 64u - ctx->fill;
        size_t take = len < room ? len : room;
        memcpy(ctx->block + ctx->fill, p, take);
        ctx->fill += (unsigned)take;
        p += take;
        len -= take;
        if (ctx->fill < 64u) return;
        tg__sha256_blocks(ctx->state, ctx->block, 1);
        ctx->fill = 0;
    }

    /* Whole blocks straight from the caller's buffer. */
    whole = len / 64u;
    if (whole > 0) {
        tg__sha256_blocks(ctx->state, p, whole);
        p += whole * 64u;
        len -= whole * 64u;
    }

    /* Keep the tail (under 64 bytes) for the next call. */
    if (len > 0) {
        memcpy(ctx->block, p, len);
        ctx->fill = (unsigned)len;
    }
}

TG_API void tg_sha256_final(tg_sha256_ctx *ctx, uint8_t digest[32])
{
    uint64_t bits;
    unsigned fill, i;

    if (!ctx || !digest) return;
    bits = ctx->length << 3;  /* the length in bits, modulo 2^64 */
    fill = ctx->fill;

    /* Padding (5.1.1): a 1 bit, zeros up to 56 mod 64, the 64-bit length. */
    ctx->block[fill++] = 0x80u;
    if (fill > 56u) {
        memset(ctx->block + fill, 0, 64u - fill);
        tg__sha256_blocks(ctx->state, ctx->block, 1);
        fill = 0;
    }
    memset(ctx->block + fill, 0, 56u - fill);
    tg__sha256_store32(ctx->block + 56, (uint32_t)(bits >> 32));
    tg__sha256_store32(ctx->block + 60, (uint32_t)bits);
    tg__sha256_blocks(ctx->state, ctx->block, 1);

    for (i = 0; i < 8; i++)
        tg__sha256_store32(digest + 4 * i, ctx->state[i]);
    memset(ctx, 0, sizeof *ctx);
}

TG_API void tg_sha256(const void *data, size_t len, uint8_t digest[32])
{
    tg_sha256_ctx ctx;

    if (!digest || (!data && len > 0)) return;
    tg_sha256_init(&ctx);
    tg_sha256_update(&ctx, data, len);
    tg_sha256_final(&ctx, digest);
}

TG_API void tg_sha256_hex(const uint8_t digest[32], char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned i;

    if (!digest || !hex) return;
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15u];
    }
    hex[64] = '\0';
}

#undef TG__SHA256_ROTR
#undef TG__SHA256_CH
#undef TG__SHA256_BSIG0
#undef TG__SHA256_BSIG1
#undef TG__SHA256_SSIG0
#undef TG__SHA256_SSIG1
#undef TG__SHA256_LOAD
#undef TG__SHA256_NEXT
#undef TG__SHA256_ROUND
#undef TG__SHA256_ROUNDS8

/* ------------------------------------------------------------------------ */
/* Errors and names                                                         */
/* ------------------------------------------------------------------------ */
/* >>errors */

TG_API const char *tg_strerror(int code)
{
    switch (code) {
#define TG__ERROR_CASE(name, value, message) case value: return #name ": " message;
        TG_ERROR_LIST(TG__ERROR_CASE)
#undef TG__ERROR_CASE
    default: return "unknown tokengate error code";
    }
}

TG_API const char *tg_state_name(tg_state state)
{
    static const char *const names[] = { "created", "waiting", "admitted", "executing",
                                         "completed", "failed", "killed", "timeout" };
    unsigned i = (unsigned)state;
    return i < sizeof names / sizeof names[0] ? names[i] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* Scheduler layout                                                         */
/* ------------------------------------------------------------------------ */
/* >>layout */

/* Memory-ordering conventions, stated once (sites that differ say so):
   - Slot state: the generation and the word (state and flags) are one
     64-bit atomic, gw = generation << 32 | word. Every read-modify-write
     is acq_rel and every load acquire. All state moves, flag changes and
     releases of a token are RMWs on it, so they are totally ordered and
     each pairs with the next: the release half publishes what the mover
     wrote before (result, stamps, failure code), the acquire half lets the
     next mover or observer see it. A move made through a handle compares
     the generation in the same CAS, so it can never land on a newer token
     of the same slot. Futex waits and wakes use the word's 32-bit half.
   - A new token's fields are written relaxed and published by the release
     store of gw in tg__submit_publish. Fields that change while the token
     lives and that tg_info may read meanwhile (core, retries, failure code,
     stamps) go through TG__SLOT_STORE / TG__SLOT_LOAD, below: the one
     place their ordering is explained.
   - Statistics of one writer (a worker's counters, histograms, run time)
     go through TG__STAT_STORE / TG__STAT_LOAD, below.
   - Every other ordering stronger than relaxed is commented on its line:
     what it orders and the line it pairs with.
   - Lifecycle flags accepting, cancelling, stopping: written seq_cst by
     tg_shutdown / tg__workers_join, read acquire (or seq_cst where a Dekker
     hand-shake needs it, commented there). A stale read only delays noticing
     a shutdown by one loop; tg_shutdown's wake-ups end every sleep.

   The word: the state in the low 4 bits plus flags.

     flag        set by                      cleared by             keeps the slot
     ----------  --------------------------  ---------------------  --------------
     WAITER      an outside waiter (CAS)     the terminal move      no
     ANY         a tg_wait_any sleeper       the terminal move      no
     TAKEN       a task's wait that runs     whoever pops the void  yes (until the
                 the queued token itself     queue entry (the gate; void entry
                 (tg__claim)                 the submitter if it    is popped)
                                             never pushed one)
     RELEASED    tg_release, a detached      never (until reuse)    no (frees it)
                 submit
     HELD        tg_submit                   whoever drops the      yes
                 (queue, list or run)        token from its queue,
                                             list or run
     KILL        tg_kill on EXECUTING        never (until reuse)    no
     NOTIFY      the terminal move of a      tg_completions         yes
                 NOTIFY_OP token with a
                 handle
     STICKY      tg_submit (pinned)          never                  no
     NOTIFY_OP   tg_submit                   never                  no
     LIMITED     tg_submit (max_live)        the holds' give-back   no
     DEADLINE    tg_submit (timeout_ns)      never                  no
     DEDUPE      tg_submit (leader)          never                  no
     ENDING      the one ender that claims   the terminal move      no (a live
                 a live token (tg__token_                           token is
                 claim)                                             never freed)
     RUNNING     the worker's move to        the worker, when the   no (HELD
                 EXECUTING                   function returned      covers it)
     STAMPING    a submitter waiting for     the same submitter,    no
                 room, before it writes a    with its state move
                 stamp of a queued state     (enders and tg_info
                 (tg__submit_stamp_move);    wait meanwhile); the
                 a task's wait that takes    wait, once the start
                 a token (tg__wait_claim)    is marked pending
     LISTED      whoever puts it on a held   whoever takes it off   no (HELD
                 list (pause, tier, dedupe   (or the terminal move) covers it)
                 followers): not in a queue

   Legal moves of the state: CREATED -> WAITING <-> ADMITTED (a submitter
   waiting for room), CREATED/ADMITTED -> EXECUTING (a worker), EXECUTING ->
   ADMITTED (a retry), and any live state -> one terminal state, only by
   the thread whose claim set ENDING (kill: not from EXECUTING; the worker:
   from EXECUTING; a deadline or a shutdown's sweep: from any). Terminal is
   final until the slot is reused. Holds (sticky pin, domain, max_live,
   dedupe) go back once per token, when it is terminal and its function no
   longer runs (tg__token_holds_return). */
/* Slot fields that tg_info reads while their token may move: the mover
   stores with release and tg_info loads with acquire, between two acquire
   loads of gw (a seqlock read, tg__info_read). A reader that sees such a
   value sees the gw move made before it, so its second load of gw shows
   that the token moved and it reads again. */
#define TG__SLOT_STORE(p, v) TG__STORE_RELEASE(p, v)
#define TG__SLOT_LOAD(p)     TG__LOAD_ACQUIRE(p)
/* Statistics with one writer each (a worker's counters, per-op rows,
   histograms, run time): plain release stores by the writer, acquire loads
   by tg_stats and the exporters, so a reader that sees a count also sees
   every count its writer made before it (an end never without its entry). */
#define TG__STAT_STORE(p, v) TG__STORE_RELEASE(p, v)
#define TG__STAT_LOAD(p)     TG__LOAD_ACQUIRE(p)

#define TG__STATE_MASK   0x0fu
#define TG__W_WAITER     0x10u  /* an outside thread sleeps on this word */
#define TG__W_ANY        0x20u  /* a tg_wait_any sleeper watches this token */
#define TG__W_TAKEN      0x40u  /* a task's wait ran it; one queue entry is void */
#define TG__W_RELEASED   0x80u  /* the handle was given back (or detached) */
#define TG__W_HELD       0x100u /* a queue, a list or a running worker holds the slot */
#define TG__W_KILL       0x200u /* kill requested while running */
#define TG__W_NOTIFY     0x400u /* the completion list holds the slot */
#define TG__W_STICKY     0x800u /* holds a sticky pin (entry index in link) */
#define TG__W_NOTIFY_OP  0x1000u /* its op has TG_OP_NOTIFY */
#define TG__W_LIMITED    0x2000u /* counted in its op's live (max_live) */
#define TG__W_DEADLINE   0x4000u /* its op has timeout_ns: a deadline */
#define TG__W_DEDUPE     0x8000u /* leads a TG_OP_DEDUPE entry (followers wait) */
#define TG__W_ENDING     0x10000u /* one ender claimed it: the terminal move is its */
#define TG__W_RUNNING    0x20000u /* its function runs (set with EXECUTING) */
#define TG__W_STAMPING   0x40000u /* its submitter writes a stamp: enders wait */
#define TG__W_LISTED     0x80000u /* on a held list (pause, tier, followers), not queued */
#define TG__W_SUCC       0x100000u /* tokens wait for its end: the dependency table has edges */
#define TG__W_DEPS       0x200000u /* WAITING for its dependencies (their record holds it) */
#define TG__W_DEPFAIL    0x400000u /* KILLED as a dependency did not complete (result: its handle) */
#define TG__W_GROUP      0x800000u /* a member of a group (s->group_of names it) */
#define TG__W_DOMAIN     0x1000000u /* a member of a domain (sl->domain names it) */
#define TG__WAKE_FLAGS   (TG__W_WAITER | TG__W_ANY)

#define TG__GEN(gw)  ((uint32_t)((gw) >> 32))
#define TG__WORD(gw) ((uint32_t)(gw))
#define TG__STATE(gw) ((uint32_t)(gw) & TG__STATE_MASK)
#define TG__IS_TERMINAL(word) (((word) & TG__STATE_MASK) >= (uint32_t)TG_COMPLETED)
/* A slot returns to the free list once it is terminal, its handle released,
   and nothing inside the scheduler refers to it. */
#define TG__FREEABLE(word) (TG__IS_TERMINAL(word) && ((word) & TG__W_RELEASED) && \
                            !((word) & (TG__W_HELD | TG__W_NOTIFY)))
/* Holds still to give back: terminal, and no function of it runs. */
#define TG__SETTLED(word) (TG__IS_TERMINAL(word) && !((word) & TG__W_RUNNING))

#define TG__INLINE_ARGS 32 /* argument bytes kept in the slot itself */
#define TG__CHUNK_SHIFT 12
#define TG__CHUNK_SLOTS (1u << TG__CHUNK_SHIFT)
#define TG__CACHE_SLOTS 128      /* per-worker free-slot cache */
#define TG__DEQUE_CAPACITY 4096  /* per-worker work-stealing deque */
#define TG__NO_INDEX 0xffffffffu
/* A queue entry names its token by slot index and generation pair, as a
   handle does: (gen + 1) / 2 is the same for a live token's odd
   generation and for the even one its handle's release gives it, and
   differs for the slot's next token. An entry whose pair no longer
   matches, or whose slot is free, is stale (its token was taken by a
   wait, has ended and is gone): popped, it is dropped. Pair 0 is no
   token's: the free ring's entries carry it. */
#define TG__PAIR(gen)        ((uint32_t)(((uint64_t)(gen) + 1u) >> 1))
#define TG__ENTRY(index, gw) (((uint64_t)TG__PAIR(TG__GEN(gw)) << 32) | (uint64_t)(index))
#define TG__ENTRY_INDEX(e)   ((uint32_t)(e))
#define TG__ENTRY_PAIR(e)    ((uint32_t)((e) >> 32))
#define TG__NO_ENTRY         UINT64_MAX
#define TG__ARGS_RETAIN_LIMIT ((uint64_t)64 << 20) /* argument buffers kept for reuse */

typedef struct tg__slot {
    uint64_t gw;              /* generation << 32 | word (section above); the
                                 generation is odd while a handle is valid */
    const tg_op *op;          /* the submitted op (alive while the token lives) */
    uint32_t opi;             /* the op name's registry entry */
    uint32_t held_link;       /* next index + 1 on the one held list the slot
                                 is on (TG__LIST_HELD, _ASIDE, _FOLLOWERS) */
    tg_value result;          /* written before the terminal store */
    int32_t failure_code;
    int16_t core;
    uint16_t retries;
    uint32_t args_size;
    uint32_t link;            /* free: next index + 1 on the free list;
                                 live with W_STICKY: its sticky entry;
                                 ended: next index + 1 on the completion
                                 list (TG__LIST_NOTIFY), the pin given back */
    uint32_t domain;          /* domain entry + 1 (0: none); see the conductor */
    uint32_t epoch;           /* its op's control epoch when it was submitted */
    int64_t created_ns, waiting_ns, admitted_ns, started_ns, ended_ns;
    /* args_size <= TG__INLINE_ARGS: the bytes are inline; above it, a
       buffer of cap bytes that the slot keeps for its next large token */
    union {
        unsigned char bytes[TG__INLINE_ARGS];
        struct { void *ptr; uint32_t cap; } heap;
    } args;
} tg__slot;
/* Two slots a cache line pair: the layout above fills 128 bytes exactly. */
typedef char tg__slot_size_check[sizeof(tg__slot) == 128 ? 1 : -1];

/* The word's half of gw, for futex calls (the kernel compares 32 bits). */
static inline uint32_t *tg__slot_futex(tg__slot *sl)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint32_t *)(void *)&sl->gw + 1;
#else
    return (uint32_t *)(void *)&sl->gw;
#endif
}

/* An event count for outside threads that wait for a condition: a waiter
   registers, arms, re-checks the condition and sleeps on seq; whoever makes
   the condition true fences, and if a waiter armed it, bumps seq and wakes
   them all. At most one wake-up system call per arming. */
typedef struct tg__event {
    uint32_t waiters TG__ALIGNED_LINE;
    uint32_t armed;
    uint32_t seq;
} tg__event;

/* Per-op counts. Each worker keeps its own row per op (plain release stores,
   one writer, like tg__counters); outside threads add to the entry's shared
   row atomically. tg_op_stats sums them. */
typedef struct tg__opcount {
    uint64_t successes, failures, retried;   /* runs: attempts = the sum */
    uint64_t failed, killed, timed_out;      /* tokens, by how they ended */
} tg__opcount;

/* A mailbox cell. seq is stored minus the cell's index, so a fresh
   mailbox is all zeros (calloc: no page is touched before it is used). */
typedef struct tg__cell { uint32_t seq; uint64_t item; } tg__cell;

/* Bounded MPMC queue (per-cell sequence numbers). */
typedef struct tg__mailbox {
    uint32_t tail TG__ALIGNED_LINE;  /* producers */
    uint32_t head TG__ALIGNED_LINE;  /* consumers */
    tg__cell *cells TG__ALIGNED_LINE;
    uint32_t mask;
} tg__mailbox;

/* Bounded work-stealing deque: the owner pushes and pops at the bottom
   (LIFO), thieves take from the top (FIFO). */
typedef struct tg__deque {
    int64_t top TG__ALIGNED_LINE;    /* thieves */
    int64_t bottom TG__ALIGNED_LINE; /* owner */
    uint64_t items[TG__DEQUE_CAPACITY];   /* queue entries */
} tg__deque;

/* Counters written by one thread each (a worker, or atomically by outside
   threads in the scheduler's shared copy); read by tg_stats. */
typedef struct tg__counters {
    uint64_t entered;    /* tokens created (live from here) */
    uint64_t submitted;  /* submissions that succeeded (tg_stats' submitted) */
    uint64_t admitted;   /* tokens that reached a run queue (tg_stats' admitted) */
    uint64_t abandoned;  /* created but refused before admission */
    uint64_t completed, failed, killed, timed_out;
    uint64_t executed, stolen;
    uint64_t freed;      /* slots of entered tokens given back to the pool */
} tg__counters;


struct tg_scheduler;
struct tg__thread;

/* A core: its queues, and the statistics written by the one thread that
   serves it at a time, its owner (a tg__thread, below). Only the owner
   pushes and pops its deque, parks on wake_word and writes these counters
   (plain release stores: one writer). The owner changes only by a hand-off
   (tg__handoff), whose release store and the new owner's acquire load
   order the old owner's writes before the new one's. */
typedef struct tg__worker {
    tg__deque deque;
    tg__mailbox mailbox;
    tg__mailbox pinned;                  /* sticky and domain tokens: never stolen */
    uint32_t position TG__ALIGNED_LINE;  /* staggered position counter */
    /* read by every submitter: written only when the worker parks */
    uint32_t sleeping TG__ALIGNED_LINE;  /* 1 while parked on wake_word */
    uint32_t wake_word;
    /* written per token: its own line, away from the flags above */
    uint32_t busy TG__ALIGNED_LINE;      /* functions running (nested) */
    uint32_t ending;                     /* tokens it is ending (tg__ending_begin) */
    tg__counters counters;
    struct tg__opcount *opc;             /* a row per op entry, this worker's */
    struct tg__ophist *oph;              /* run and wait histograms per op */
    uint64_t sec_id[2], sec_ns[2];       /* run time by second (ended_ns / 1e9), */
                                         /* this one and the one before */
    struct tg_scheduler *sched;
    struct tg__thread *owner;            /* the thread serving it (a hint for tg_stats) */
    unsigned index;
    int cpu;                             /* pinned CPU or -1 */
    void *raw;                           /* allocation behind this struct */
    uint32_t rng;
    uint32_t run_avg_ns;                 /* recent run time per token (owner only) */
    uint32_t cache_count;
    uint32_t cache[TG__CACHE_SLOTS];
} tg__worker;

/* A thread of the scheduler: one per core at tg_create, more (spares) on
   demand up to max_spare_workers. A thread owns at most one core; one that
   is about to block inside a task hands its core to a spare first and runs
   on without one (outside-like: its submissions go to the mailboxes, its
   counts to the shared rows) until its frames return, then waits in the
   spare pool for a core to serve. */

#define TG__BLOCKED_ASLEEP  1u  /* a wait or a submission: moves when others do */
#define TG__BLOCKED_SECTION 2u  /* a blocking section: moves on its own */

typedef struct tg__thread {
    uint32_t wake TG__ALIGNED_LINE;      /* futex word: bumped to hand it a core or to exit */
    uint32_t blocked;                    /* TG__BLOCKED_*: the stall check reads it, with
                                            depth (moving: depth && blocked != ASLEEP) */
    struct tg__worker *core;             /* the core handed to it; NULL in the pool */
    struct tg__worker *home;             /* the core it serves or served last */
    struct tg__thread *next;             /* the pool's link (under pool_lock) */
    struct tg_scheduler *sched;
    unsigned depth;                      /* token functions running on its stack
                                            (written by the thread, read racily) */
    uint64_t inner_ns;                   /* run time of the tokens the running one's
                                            waits ran (tg__run_call) */
    uint64_t blocked_ns;                 /* time the running function spent blocked */
    int64_t coreless_since;              /* the running function runs without a core
                                            from here (0: it has one); counted blocked */
    uint64_t *stack_tokens;              /* handles of the functions on its stack */
    unsigned section_depth;              /* tg_blocking_begin calls not yet ended */
    unsigned section_frame;              /* the depth of the frame that began them */
    int64_t section_since;
    int cpu;                             /* the CPU it is pinned to, -1 */
    int started;
    pthread_t thread;
} tg__thread;

struct tg_scheduler {
    /* read-mostly configuration */
    tg_config cfg;
    unsigned nworkers;
    int prefetchw;               /* tg__cpu_prefetchw, on a line of our own */
    uint32_t slot_capacity;      /* max_tokens */
    uint32_t chunk_count;
    uint32_t cache_limit;        /* 0: workers keep no free slots */
    tg__worker **workers;
    tg__slot **chunks;           /* chunk_count pointers, filled on demand */
    void **chunk_raw;            /* unaligned allocations behind chunks */

    /* slot pool */
    tg__mailbox free_ring;               /* free slot indices, FIFO (bounded) */
    uint64_t free_head TG__ALIGNED_LINE; /* overflow list: tag << 32 | (index + 1) */
    uint32_t fresh TG__ALIGNED_LINE;     /* next never-used index */
    tg__event slot_event;        /* outside submitters waiting for a slot */
    tg__event space_event;       /* outside submitters waiting for room */
    tg__event idle_event;        /* tg_wait_idle callers */
    /* operations registry */
    struct tg__opent *ops;       /* max_ops entries, 0..op_count-1 claimed */
    void *ops_raw;               /* the allocation behind ops (aligned) */
    uint32_t *op_hash;           /* op pointer hash -> entry + 1 */
    uint32_t op_hash_mask;
    uint32_t op_count;
    pthread_mutex_t ops_lock;    /* claims new entries */
    uint32_t paused;             /* tg_pause */
    struct tg__tier *tiers;      /* TG__TIERS, by TG_IO_*; [0] unused */
    struct tg__dedupe *dedupe;   /* dedupe_capacity entries */
    struct tg__deptab *deptab;   /* dependency edges; made by the first tg_submit_after */
    pthread_mutex_t deptab_lock; /* makes it */
    struct tg_group **group_of;  /* a member's group by slot; made by the first group */
    struct tg_group *groups;     /* every group made (freed by tg_destroy) */
    struct tg_group *group_pool; /* groups free for reuse */
    uint64_t group_serial;       /* the last group's id */
    pthread_mutex_t group_lock;  /* the four above */
    uint32_t dedupe_mask;
    pthread_mutex_t *dedupe_locks; /* TG__DEDUPE_STRIPES, by entry index */
    uint64_t dedupe_joined, dedupe_overflow;
    uint64_t serial;             /* unique per tg_create (tg__tls_op's key) */
    uint32_t handle_tag;         /* serial mod 16, in every handle's bits 28..31 */
    uint32_t handle_key;         /* random, even: XORed into every handle's generation */
    uint32_t fork_generation;    /* tg__fork_generation at tg_create */
    void *raw;                   /* the allocation behind this struct (aligned in it) */
    uint8_t *on_list;            /* TG_DEBUG: the lists each slot is on (TG__LIST_*) */
    int64_t created_ns;          /* for the concurrency ratio */

    /* locality: sticky registry and hash-conductor domains */
    uint64_t *sticky;            /* sticky_capacity words: tag | count | core */
    uint32_t sticky_mask;
    struct tg__domain *domains;  /* max_domains entries */
    uint32_t domain_next TG__ALIGNED_LINE; /* where the next lead looks first */
    uint64_t sticky_overflow, domain_overflow, domain_late;

    uint32_t sleeping_count TG__ALIGNED_LINE;
    uint32_t any_seq TG__ALIGNED_LINE;   /* bumped when a W_ANY token ends */

    /* threads: nworkers + max_spare_workers entries, the first
       threads_alive of them started; the pool of those without a core */
    tg__thread *threads;
    void *threads_raw;
    unsigned thread_limit;
    unsigned depth_soft, depth_hard;     /* nesting of waits' runs (tg__claimable) */
    pthread_mutex_t pool_lock;
    tg__thread *pool;                    /* LIFO through next */
    uint32_t threads_alive;              /* written under pool_lock */
    uint32_t pool_size;                  /* written under pool_lock, atomically */
    uint32_t spares_peak;                /* written under pool_lock */
    uint64_t handoffs;                   /* cores handed to a spare */
    uint32_t stall_epoch;                /* bumped when a stall is reported */
    uint32_t busy_other TG__ALIGNED_LINE; /* functions running on threads without a core */
    uint64_t other_run_ns;               /* their summed run time (atomic adds) */
    uint64_t other_sec_id[2], other_sec_ns[2];

    /* lifecycle */
    uint32_t accepting TG__ALIGNED_LINE;
    uint32_t cancelling;
    uint32_t stopping;           /* shut down: no token starts, queues drain */
    uint32_t exiting;            /* tg_destroy: workers leave their loops */
    int shut_begun;              /* tg_shutdown's first steps are taken */
    int shut_done;               /* a tg_shutdown returned: no token is live */
    pthread_mutex_t shutdown_lock;

    /* counters of outside threads (atomic adds) */
    tg__counters outside TG__ALIGNED_LINE;
    uint64_t pin_failures;
    uint32_t ending;             /* tokens outside threads are ending */
    uint64_t args_heap_bytes;    /* bytes in argument buffers, in use or kept */

    /* completion fd */
    int event_fd;
    uint32_t notify_head TG__ALIGNED_LINE; /* LIFO pushed by workers */
    pthread_mutex_t notify_lock;          /* consumers only */
    uint32_t notify_first, notify_last;   /* FIFO owned by consumers */
};

static TG__THREAD_LOCAL tg__thread *tg__tls_thread;   /* a scheduler thread's own */
static TG__THREAD_LOCAL tg__worker *tg__tls_worker;   /* the core it owns, or NULL */
static TG__THREAD_LOCAL tg__slot *tg__tls_slot;
static TG__THREAD_LOCAL uint64_t tg__tls_token;

/* The op of a token: the tg_op it was submitted with (the caller keeps it
   alive while the token lives). Relaxed: it is published with the token
   (the release store of gw, or a queue's release); a seqlock reader
   (tg_info) checks the generation after. */
static inline const tg_op *tg__slot_op(const tg__slot *sl)
{
    return TG__LOAD_RELAXED(&sl->op);
}

/* fork(): a child inherits the scheduler's memory but none of its threads.
   Every call of the child on such a scheduler returns TG_EFORKED (the
   child handler bumps the generation; the check is one load). */
static uint32_t tg__fork_generation;
static pthread_once_t tg__atfork_once = PTHREAD_ONCE_INIT;

static void tg__atfork_child(void)
{
    /* the child has one thread here: relaxed */
    TG__STORE_RELAXED(&tg__fork_generation, TG__LOAD_RELAXED(&tg__fork_generation) + 1u);
}

static void tg__atfork_register(void)
{
    (void)pthread_atfork(NULL, NULL, tg__atfork_child);
}

static inline int tg__fork_check(const tg_scheduler *s)
{
    /* relaxed: only a child's own handler writes it, before any other
       thread of the child exists */
    return TG__LIKELY(TG__LOAD_RELAXED(&tg__fork_generation) == s->fork_generation) ? TG_OK : TG_EFORKED;
}

/* The core the calling thread owns when it is one of s, else NULL: what
   the queues and the one-writer counters go by. A thread of s without a
   core (it handed it to a spare) is treated as an outside thread there. */
static inline tg__worker *tg__current_worker(tg_scheduler *s)
{
    tg__worker *w = tg__tls_worker;
    return (w && w->sched == s) ? w : NULL;
}

/* The calling thread when it is one of s (with a core or not), else NULL. */
static inline tg__thread *tg__current_thread(tg_scheduler *s)
{
    tg__thread *t = tg__tls_thread;
    return (t && t->sched == s) ? t : NULL;
}

/* Inside a task of s: the calling thread runs one of its functions. */
static inline tg__thread *tg__task_thread(tg_scheduler *s)
{
    tg__thread *t = tg__current_thread(s);
    return (t && t->depth) ? t : NULL;
}

/* Counters: a worker bumps its own copy with plain stores (TG__STAT_STORE:
   no other writer); outside threads add to the shared copy atomically,
   seq_cst: pairs with the seq_cst load of outside.entered in
   tg__live_count, so tg_shutdown and tg_wait_idle never miss an entry. */
#define TG__COUNT(s, w, field)                                                   \
    do {                                                                          \
        if (w) TG__STAT_STORE(&(w)->counters.field,                               \
                              TG__LOAD_RELAXED(&(w)->counters.field) + 1);        \
        else (void)TG__FETCH_ADD_SEQ_CST(&(s)->outside.field, 1);                 \
    } while (0)

static void tg__log(tg_scheduler *s, int level, const char *message)
{
    if (s->cfg.log) s->cfg.log(s->cfg.log_user, level, message);
    else fprintf(stderr, "tokengate: %s: %s\n", level >= TG_LOG_ERROR ? "error" : "warning", message);
}

/* p rounded up to a cache line (memory allocated TG__CACHE_LINE larger) */
static inline void *tg__align_line(void *p)
{
    return (void *)(((uintptr_t)p + TG__CACHE_LINE - 1) & ~(uintptr_t)(TG__CACHE_LINE - 1));
}

/* 32 bits from the kernel's random source, or (without one) from the
   clock, the process and an address, mixed. */
static uint32_t tg__random32(void)
{
    uint32_t r = 0;
#if defined(SYS_getrandom)
    if (syscall(SYS_getrandom, &r, sizeof r, 0) == (long)sizeof r) return r;
#endif
    uint64_t x = (uint64_t)tg__now_ns() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&r;
    x ^= x >> 31; x *= 0x9e3779b97f4a7c15ull; x ^= x >> 29; x *= 0xbf58476d1ce4e5b9ull; x ^= x >> 32;
    return (uint32_t)x;
}

static void *tg__alloc(tg_scheduler *s, size_t size)
{
    if (s->cfg.allocator.alloc) return s->cfg.allocator.alloc(size, s->cfg.allocator.user);
    return malloc(size);
}

/* Zeroed memory. With the default allocator through calloc, so large
   tables are not touched (and not resident) until used. */
static void *tg__alloc_zero(tg_scheduler *s, size_t size)
{
    if (!s->cfg.allocator.alloc) return calloc(1, size);
    void *p = tg__alloc(s, size);
    if (p) memset(p, 0, size);
    return p;
}

static void tg__free(tg_scheduler *s, void *p, size_t size)
{
    if (!p) return;
    if (s->cfg.allocator.free) s->cfg.allocator.free(p, size, s->cfg.allocator.user);
    else free(p);
}

/* Sleeps until the event is signalled, ready(ctx) holds, the deadline, or
   `backstop` ns (which bounds the wait for a slot parked in a worker's
   cache, the one change that does not signal). */
static void tg__event_wait(tg__event *e, int (*ready)(void *), void *ctx,
                           int64_t deadline, int64_t backstop)
{
    /* acquire: pairs with the signaller's bump of seq, so a bump after our
       read makes the futex wait return at once */
    uint32_t seen = TG__LOAD_ACQUIRE(&e->seq);
    /* seq_cst, both: the registration and the arming precede our look at
       the condition in the single order that the signaller's fence joins */
    (void)TG__FETCH_ADD_SEQ_CST(&e->waiters, 1u);
    TG__STORE_SEQ_CST(&e->armed, 1u);
    /* full fence: our registration before our look at the condition; pairs
       with the fence before tg__event_signal */
    TG__FENCE_SEQ_CST();
    if (!ready(ctx)) {
        int64_t until = tg__now_ns() + backstop;
        if (deadline >= 0 && deadline < until) until = deadline;
        (void)tg__futex_wait(&e->seq, seen, until);
    }
    /* seq_cst like the registration: a signaller may skip a wake only
       once no waiter is registered */
    (void)TG__FETCH_SUB_SEQ_CST(&e->waiters, 1u);
}

/* Call after a full fence that follows the change making waiters ready. */
static inline void tg__event_signal(tg__event *e)
{
    if (TG__LOAD_RELAXED(&e->waiters) && TG__EXCHANGE(&e->armed, 0u)) {
        (void)TG__FETCH_ADD(&e->seq, 1u);
        tg__futex_wake(&e->seq, INT_MAX);
    }
}

/* Wakes every waiter of the event, armed or not (shutdown). */
static void tg__event_wake_all(tg__event *e)
{
    (void)TG__FETCH_ADD(&e->seq, 1u);
    tg__futex_wake(&e->seq, INT_MAX);
}

/* ------------------------------------------------------------------------ */
/* Token slots: chunked pool, generations, free list                        */
/* ------------------------------------------------------------------------ */
/* >>slots */

static inline tg__slot *tg__slot_at(tg_scheduler *s, uint32_t index)
{
    /* acquire: pairs with the release CAS that installs a chunk */
    tg__slot *chunk = TG__LOAD_ACQUIRE(&s->chunks[index >> TG__CHUNK_SHIFT]);
    return chunk + (index & (TG__CHUNK_SLOTS - 1));
}

/* The lists a slot can be on, through its two link fields. Through each
   field a slot is on at most one list at a time (an ended token may still
   be on a held list while on the completion list); with TG_DEBUG defined,
   s->on_list records them (a byte per field) and TG_ASSERT checks every
   move onto and off a list.
     held_link: TG__LIST_HELD       an op's held list (tg_op_pause)
                TG__LIST_ASIDE      a storage tier's set-aside list
                TG__LIST_FOLLOWERS  a dedupe leader's followers
     link:      TG__LIST_NOTIFY     the completion list (tg_completions);
                the free list (not recorded: a free slot is on no other
                list, tg__slot_free checks it) */
enum { TG__LIST_NONE, TG__LIST_HELD, TG__LIST_ASIDE, TG__LIST_FOLLOWERS, TG__LIST_NOTIFY };

#ifdef TG_DEBUG
/* The byte of s->on_list that records the list of the field `list` uses
   (two bytes a slot: held_link's and link's, written under different
   locks, so never the same byte). */
static inline uint8_t *tg__list_byte(tg_scheduler *s, uint32_t index, int list)
{
    return &s->on_list[2u * index + (list == TG__LIST_NOTIFY ? 1u : 0u)];
}
#endif

/* Slot `index` moves, through the field `list` uses, from list `from` to
   list `to` (one of them TG__LIST_NONE). */
static inline void tg__list_move(tg_scheduler *s, uint32_t index, int list, int from, int to)
{
#ifdef TG_DEBUG
    uint8_t *b = tg__list_byte(s, index, list);
    TG_ASSERT(*b == from);
    *b = (uint8_t)to;
#else
    (void)s; (void)index; (void)list; (void)from; (void)to;
#endif
}
static inline void tg__list_enter(tg_scheduler *s, uint32_t index, int list)
{
    tg__list_move(s, index, list, TG__LIST_NONE, list);
}

static inline void tg__list_leave(tg_scheduler *s, uint32_t index, int list)
{
    tg__list_move(s, index, list, list, TG__LIST_NONE);
}

/* Appends slot `index` to a FIFO through held_link (head and tail are
   index + 1, 0 for none), under the lock that guards the list. */
static void tg__held_append(tg_scheduler *s, uint32_t *head, uint32_t *tail, uint32_t index, int list)
{
    tg__list_enter(s, index, list);
    TG__STORE_RELAXED(&tg__slot_at(s, index)->held_link, 0u);
    if (*tail) TG__STORE_RELAXED(&tg__slot_at(s, *tail - 1)->held_link, index + 1);
    else *head = index + 1;
    *tail = index + 1;
}

/* held_link of a token that runs or ran (on no held list: W_LISTED clear)
   holds its time spent blocked, in microseconds, summed over its runs
   (tg_info's blocked_ns); 0 from its submission. Written by the thread that
   ran it, between its run and its end. */
static void tg__slot_blocked_add(tg__slot *sl, uint64_t ns)
{
    if (ns < 1000) return;
    uint64_t us = (uint64_t)TG__LOAD_RELAXED(&sl->held_link) + ns / 1000;
    TG__SLOT_STORE(&sl->held_link, us > UINT32_MAX ? UINT32_MAX : (uint32_t)us);
}

/* Slot `index` leaves its held list: the next one's index + 1 (0: none). */
static uint32_t tg__held_next(tg_scheduler *s, uint32_t index, int list)
{
    tg__list_leave(s, index, list);
    return TG__LOAD_RELAXED(&tg__slot_at(s, index)->held_link);
}

/* Starts fetching the line at p to write it. A plain prefetch brings a line
   shared, and the first store then waits for the other copies to go:
   PREFETCHW asks for it exclusive (the builtin emits it only when the
   compiler targets it, so it is issued here when the CPU has it). Lines
   the other CPU wrote last (a freed slot, a queued token) are the ones
   fetched ahead; a prefetch never faults. */
static inline void tg__prefetch_write(const tg_scheduler *s, const void *p)
{
#if defined(__x86_64__)
    if (s->prefetchw) {
        __asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
        return;
    }
#else
    (void)s;
#endif
    __builtin_prefetch(p, 1, 3);
}

/* A handle: bits 0..27 the slot index, bits 28..31 the scheduler's tag,
   bits 32..63 the slot's generation XOR the scheduler's key. A handle of
   another scheduler fails the tag check (schedulers created less than 16
   apart in the process) or, failing that, decodes to a generation that
   matches the slot's only by chance: the keys are random and even, so the
   odds are 2^-31 per use. TG_TOKEN_NONE (0) has an even generation. */
#define TG__INDEX_BITS 28
#define TG__INDEX_MASK ((1u << TG__INDEX_BITS) - 1u)

static inline tg_token tg__make_token(const tg_scheduler *s, uint32_t index, uint32_t gen)
{
    tg_token t;
    t.bits = ((uint64_t)(gen ^ s->handle_key) << 32) | ((uint64_t)s->handle_tag << TG__INDEX_BITS) | index;
    return t;
}

/* The slot generation a handle names (odd for any handle ever issued). */
static inline uint32_t tg__token_gen(const tg_scheduler *s, tg_token t)
{
    return (uint32_t)(t.bits >> 32) ^ s->handle_key;
}

/* Resolves a handle to its slot: TG_EINVAL for a handle this scheduler can
   never have issued, TG_ESTALE when its generation is gone. *gw: the slot's
   state as read (acquire: pairs with the release store or RMW that made it,
   so the token's fields of that generation are visible). */
static int tg__slot_lookup(tg_scheduler *s, tg_token t, uint32_t *index, tg__slot **slot, uint64_t *gw)
{
    uint32_t low = (uint32_t)t.bits, gen = tg__token_gen(s, t);
    uint32_t i = low & TG__INDEX_MASK;
    if ((low >> TG__INDEX_BITS) != s->handle_tag || i >= s->slot_capacity || (gen & 1u) == 0)
        return TG_EINVAL;
    tg__slot *chunk = TG__LOAD_ACQUIRE(&s->chunks[i >> TG__CHUNK_SHIFT]);
    if (!chunk) return TG_EINVAL;
    tg__slot *sl = chunk + (i & (TG__CHUNK_SLOTS - 1));
    uint64_t v = TG__LOAD_ACQUIRE(&sl->gw);
    if (TG__GEN(v) != gen) return TG_ESTALE;
    *index = i;
    *slot = sl;
    if (gw) *gw = v;
    return TG_OK;
}

/* Allocates chunk k if nobody has; 0 or TG_ENOMEM. */
static int tg__chunk_ensure(tg_scheduler *s, uint32_t k)
{
    if (TG__LOAD_ACQUIRE(&s->chunks[k])) return TG_OK;
    size_t bytes = sizeof(tg__slot) * TG__CHUNK_SLOTS + TG__CACHE_LINE;
    void *raw = tg__alloc(s, bytes);
    if (!raw) return TG_ENOMEM;
    memset(raw, 0, bytes);
    tg__slot *chunk = (tg__slot *)(((uintptr_t)raw + TG__CACHE_LINE - 1) & ~(uintptr_t)(TG__CACHE_LINE - 1));
    tg__slot *expected = NULL;
    /* release: the zeroed chunk is visible before its pointer; pairs with
       the acquire in tg__slot_at / tg__slot_lookup */
    if (TG__CAS(&s->chunks[k], &expected, chunk, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE)) {
        TG__STORE_RELEASE(&s->chunk_raw[k], raw);
    } else {
        tg__free(s, raw, bytes);
    }
    return TG_OK;
}

static int tg__freelist_pop(tg_scheduler *s, uint32_t *index)
{
    /* acquire: the slot's link (and everything its last owner wrote) is
       visible; pairs with the release CAS in tg__freelist_push_run */
    uint64_t old = TG__LOAD_ACQUIRE(&s->free_head);
    while ((uint32_t)old != 0) {
        uint32_t i = (uint32_t)old - 1;
        uint32_t next = TG__LOAD_RELAXED(&tg__slot_at(s, i)->link);
        uint64_t desired = (((old >> 32) + 1) << 32) | next;
        if (TG__CAS(&s->free_head, &old, desired, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
            /* the next pop reads that slot's link and the next token
               writes both its lines: start fetching them now */
            if (next) {
                tg__slot *after = tg__slot_at(s, next - 1);
                tg__prefetch_write(s, after);
                tg__prefetch_write(s, (const char *)after + TG__CACHE_LINE);
            }
            *index = i;
            return 1;
        }
    }
    return 0;
}

/* Links items[0..n-1] through their slots and pushes the chain in one CAS. */
static void tg__freelist_push_run(tg_scheduler *s, const uint32_t *items, uint32_t n)
{
    for (uint32_t i = 0; i + 1 < n; i++)
        TG__STORE_RELAXED(&tg__slot_at(s, items[i])->link, items[i + 1] + 1);
    tg__slot *tail = tg__slot_at(s, items[n - 1]);
    uint64_t old = TG__LOAD_RELAXED(&s->free_head);
    for (;;) {
        TG__STORE_RELAXED(&tail->link, (uint32_t)old);
        uint64_t desired = (((old >> 32) + 1) << 32) | (uint64_t)(items[0] + 1);
        /* release: publishes the chain's links and the slots' last writes */
        if (TG__CAS(&s->free_head, &old, desired, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) break;
    }
}

static uint32_t tg__mailbox_push_run(tg__mailbox *m, const uint32_t *items, uint32_t n);
static int tg__mailbox_pop(tg__mailbox *m, uint64_t *item);
static inline void tg__mailbox_prefetch(tg_scheduler *s, tg__mailbox *m, uint32_t ahead);

/* Free slots wait in the free ring, a bounded FIFO of indices (a mailbox
   of its own), and what does not fit there on the linked free list, which
   needs no room. The ring is taken first: its indices sit in consecutive
   cells, so a taker starts fetching the slots it will take a few tokens
   from now while it fills this one. Slots come back to the ring long after
   they were freed, their lines written by the worker that ended them: the
   fetch ahead turns one cache miss per token into misses that overlap. */
#define TG__FREE_RING_MAX 65536u
#define TG__FREE_AHEAD 12

/* Gives items[0..n-1] back to the pool and wakes outside submitters that
   wait for a slot. */
static void tg__free_push(tg_scheduler *s, const uint32_t *items, uint32_t n)
{
    uint32_t done = tg__mailbox_push_run(&s->free_ring, items, n);
    if (done < n) tg__freelist_push_run(s, items + done, n - done);
    /* full fence: the push before the look at slot waiters; pairs with the
       fence in tg__event_wait */
    TG__FENCE_SEQ_CST();
    tg__event_signal(&s->slot_event);
}

/* Moves a worker's whole free-slot cache to the shared pool. */
static void tg__cache_flush(tg_scheduler *s, tg__worker *w)
{
    uint32_t n = w->cache_count;
    if (n == 0) return;
    w->cache_count = 0;
    tg__free_push(s, w->cache, n);
}

/* Takes a free slot without waiting: the worker's cache, the shared free
   list, then never-used slots. 0 on success, TG_EBUSY when every slot is
   taken, TG_ENOMEM. */
TG__HOT_INLINE int tg__slot_try_take(tg_scheduler *s, tg__worker *w, uint32_t *index)
{
    if (w && w->cache_count) {
        *index = w->cache[--w->cache_count];
        return TG_OK;
    }
    uint64_t entry;
    if (tg__mailbox_pop(&s->free_ring, &entry)) {
        *index = TG__ENTRY_INDEX(entry);
        tg__mailbox_prefetch(s, &s->free_ring, TG__FREE_AHEAD);
        return TG_OK;
    }
    if (tg__freelist_pop(s, index)) return TG_OK;
    uint32_t fresh = TG__LOAD_RELAXED(&s->fresh);
    while (fresh < s->slot_capacity) {
        /* the chunk exists before the index is claimed, so a failed
           allocation never loses an index */
        if (tg__chunk_ensure(s, fresh >> TG__CHUNK_SHIFT) != TG_OK) return TG_ENOMEM;
        if (TG__CAS(&s->fresh, &fresh, fresh + 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *index = fresh;
            return TG_OK;
        }
    }
    return TG_EBUSY;
}

/* Frees the slot's buffer for large arguments, if it has one. */
static void tg__args_buffer_drop(tg_scheduler *s, tg__slot *sl)
{
    if (sl->args_size > TG__INLINE_ARGS && sl->args.heap.ptr) {
        tg__free(s, sl->args.heap.ptr, sl->args.heap.cap);
        (void)TG__FETCH_SUB_RELAXED(&s->args_heap_bytes, (uint64_t)sl->args.heap.cap);
        sl->args.heap.ptr = NULL;
        sl->args.heap.cap = 0;
    }
}

/* Copies a token's arguments into its slot, reusing the slot's buffer when
   it is big enough. TG_ENOMEM leaves the slot with no arguments. */
TG__HOT_INLINE int tg__args_store(tg_scheduler *s, tg__slot *sl, const void *args, size_t size)
{
    if (size <= TG__INLINE_ARGS) {
        tg__args_buffer_drop(s, sl);
        if (size) memcpy(sl->args.bytes, args, size);
        sl->args_size = (uint32_t)size;
        return TG_OK;
    }
    if (!(sl->args_size > TG__INLINE_ARGS && sl->args.heap.ptr && sl->args.heap.cap >= size)) {
        tg__args_buffer_drop(s, sl);
        uint32_t cap = (uint32_t)((size + 63) & ~(size_t)63);
        void *buffer = tg__alloc(s, cap);
        if (!buffer) {
            sl->args_size = 0;
            return TG_ENOMEM;
        }
        (void)TG__FETCH_ADD_RELAXED(&s->args_heap_bytes, (uint64_t)cap);
        sl->args.heap.ptr = buffer;
        sl->args.heap.cap = cap;
    }
    memcpy(sl->args.heap.ptr, args, size);
    sl->args_size = (uint32_t)size;
    return TG_OK;
}

static void tg__domain_unref(tg_scheduler *s, uint32_t domain);

static void tg__slot_free(tg_scheduler *s, uint32_t index);

/* A slot whose token entered (tg_submit counted it) goes back to the pool:
   counted, so that tg_stats' slots_in_use is entered - freed. */
static void tg__slot_recycle(tg_scheduler *s, uint32_t index)
{
    TG__COUNT(s, tg__current_worker(s), freed);
    tg__slot_free(s, index);
}

/* A slot goes back to the pool (its token, if any, is over): keeps or
   frees its large-argument buffer, makes the generation even (stale) if a
   detached handle left it odd. */
static void tg__slot_free(tg_scheduler *s, uint32_t index)
{
    tg__slot *sl = tg__slot_at(s, index);
#ifdef TG_DEBUG
    TG_ASSERT(!s->on_list[2u * index] && !s->on_list[2u * index + 1u]);   /* a free slot is on no list */
#endif
    /* keep a large-argument buffer for the slot's next token while the
       buffers together stay under TG__ARGS_RETAIN_LIMIT */
    if (sl->args_size > TG__INLINE_ARGS && sl->args.heap.ptr &&
        TG__LOAD_RELAXED(&s->args_heap_bytes) > TG__ARGS_RETAIN_LIMIT)
        tg__args_buffer_drop(s, sl);
    /* nobody else moves a freeable slot: a plain read, a release store
       (a detached token's generation goes even, its handle stale) */
    uint64_t gw = TG__LOAD_RELAXED(&sl->gw);
    if (TG__GEN(gw) & 1u) TG__STORE_RELEASE(&sl->gw, gw + ((uint64_t)1 << 32));
    uint32_t domain = TG__LOAD_RELAXED(&sl->domain);
    if (domain) {
        TG__STORE_RELAXED(&sl->domain, 0u);
        tg__domain_unref(s, domain);
    }
    tg__worker *w = tg__current_worker(s);
    if (w && s->cache_limit) {
        if (w->cache_count == s->cache_limit) {
            /* hand the older half to the shared pool in one reservation */
            uint32_t half = s->cache_limit / 2;
            tg__free_push(s, w->cache, half);
            memmove(w->cache, w->cache + half, (w->cache_count - half) * sizeof w->cache[0]);
            w->cache_count -= half;
        }
        w->cache[w->cache_count++] = index;
        if (TG__LOAD_RELAXED(&s->slot_event.waiters)) tg__cache_flush(s, w);
        return;
    }
    tg__free_push(s, &index, 1);
}

/* ------------------------------------------------------------------------ */
/* Mailboxes: bounded lock-free MPMC queues, one per core                   */
/* ------------------------------------------------------------------------ */
/* >>mailboxes */

static int tg__mailbox_init(tg_scheduler *s, tg__mailbox *m, uint32_t capacity)
{
    /* cell i starts with sequence i: stored as 0 (see tg__cell) */
    m->cells = (tg__cell *)tg__alloc_zero(s, sizeof(tg__cell) * capacity);
    if (!m->cells) return TG_ENOMEM;
    m->mask = capacity - 1;
    m->head = m->tail = 0;
    return TG_OK;
}

/* 1 and the position it took (in *at_pos, may be NULL), or 0 when full. */
static int tg__mailbox_push(tg__mailbox *m, uint64_t item, uint32_t *at_pos)
{
    uint32_t pos = TG__LOAD_RELAXED(&m->tail);
    for (;;) {
        uint32_t at = pos & m->mask;
        tg__cell *cell = &m->cells[at];
        /* acquire: the consumer that freed this cell is done reading it;
           pairs with the release store in tg__mailbox_pop */
        uint32_t seq = TG__LOAD_ACQUIRE(&cell->seq) + at;
        int32_t dif = (int32_t)(seq - pos);
        if (dif == 0) {
            if (TG__CAS(&m->tail, &pos, pos + 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
                TG__STORE_RELAXED(&cell->item, item);
                /* release: the item and the token behind it are visible
                   before the cell reads as full; pairs with the acquire in
                   tg__mailbox_pop */
                TG__STORE_RELEASE(&cell->seq, pos + 1 - at);
                if (at_pos) *at_pos = pos;
                return 1;
            }
        } else if (dif < 0) {
            return 0; /* full */
        } else {
            pos = TG__LOAD_RELAXED(&m->tail);
        }
    }
}

static int tg__mailbox_pop(tg__mailbox *m, uint64_t *item)
{
    uint32_t pos = TG__LOAD_RELAXED(&m->head);
    for (;;) {
        uint32_t at = pos & m->mask;
        tg__cell *cell = &m->cells[at];
        /* acquire: pairs with the release store in tg__mailbox_push */
        uint32_t seq = TG__LOAD_ACQUIRE(&cell->seq) + at;
        int32_t dif = (int32_t)(seq - (pos + 1));
        if (dif == 0) {
            if (TG__CAS(&m->head, &pos, pos + 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
                *item = TG__LOAD_RELAXED(&cell->item);
                /* release: our read of the item happens before a producer
                   reuses the cell; pairs with the acquire in tg__mailbox_push */
                TG__STORE_RELEASE(&cell->seq, pos + m->mask + 1 - at);
                return 1;
            }
        } else if (dif < 0) {
            return 0; /* empty */
        } else {
            pos = TG__LOAD_RELAXED(&m->head);
        }
    }
}

/* Pushes items[0..n-1] in one reservation of consecutive cells: as many
   as are free from the tail on (each checked free before the CAS that
   claims them all, and none can be claimed by another producer without
   moving the tail first). The count pushed; 0 when the next cell is not free. */
static uint32_t tg__mailbox_push_run(tg__mailbox *m, const uint32_t *items, uint32_t n)
{
    uint32_t pos = TG__LOAD_RELAXED(&m->tail);
    for (;;) {
        uint32_t k = 0;
        /* acquire: as in tg__mailbox_push, for each cell */
        while (k < n && TG__LOAD_ACQUIRE(&m->cells[(pos + k) & m->mask].seq) +
                                ((pos + k) & m->mask) == pos + k)
            k++;
        if (k == 0) {
            uint32_t now = TG__LOAD_RELAXED(&m->tail);
            if (now == pos) return 0;  /* full, or a consumer still reading */
            pos = now;
            continue;
        }
        if (TG__CAS(&m->tail, &pos, pos + k, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            for (uint32_t i = 0; i < k; i++) {
                uint32_t at = (pos + i) & m->mask;
                TG__STORE_RELAXED(&m->cells[at].item, items[i]);
                /* release: as in tg__mailbox_push */
                TG__STORE_RELEASE(&m->cells[at].seq, pos + i + 1 - at);
            }
            return k;
        }
    }
}

/* Starts fetching the slot of the token `ahead` cells past the consumers'
   position, if it is published: its lines are then on their way while the
   tokens before it run. A hint only: the cell may change under us, so the
   index is checked against the pool before it is used as an address. */
#define TG__MAILBOX_AHEAD 6
static inline void tg__mailbox_prefetch(tg_scheduler *s, tg__mailbox *m, uint32_t ahead)
{
    uint32_t pos = TG__LOAD_RELAXED(&m->head) + ahead;
    uint32_t at = pos & m->mask;
    /* relaxed: a hint; nothing is read through it but the prefetch */
    if (TG__LOAD_RELAXED(&m->cells[at].seq) + at != pos + 1) return;
    uint32_t index = TG__ENTRY_INDEX(TG__LOAD_RELAXED(&m->cells[at].item));
    if (index >= s->slot_capacity) return;
    tg__slot *chunk = TG__LOAD_ACQUIRE(&s->chunks[index >> TG__CHUNK_SHIFT]);
    if (!chunk) return;
    const char *p = (const char *)(chunk + (index & (TG__CHUNK_SLOTS - 1)));
    tg__prefetch_write(s, p);
    tg__prefetch_write(s, p + TG__CACHE_LINE);
}

/* Is a token published at position pos (a hint: it may be taken meanwhile)? */
static inline int tg__mailbox_full_at(tg__mailbox *m, uint32_t pos)
{
    uint32_t at = pos & m->mask;
    /* relaxed: only a wake-up decision rests on it; nothing is read through
       the cell (a taker's acquire pairs with the push's release) */
    return TG__LOAD_RELAXED(&m->cells[at].seq) + at == pos + 1;
}

/* Is a token published at the consumers' next position? Reads only the
   cell a consumer will touch next, not the producers' tail line. */
static inline int tg__mailbox_nonempty(tg__mailbox *m)
{
    uint32_t pos = TG__LOAD_RELAXED(&m->head);
    uint32_t at = pos & m->mask;
    /* acquire: as in tg__mailbox_pop (the cell's item is visible) */
    uint32_t seq = TG__LOAD_ACQUIRE(&m->cells[at].seq) + at;
    return (int32_t)(seq - (pos + 1)) >= 0;
}

static inline uint32_t tg__mailbox_depth(tg__mailbox *m)
{
    uint32_t head = TG__LOAD_RELAXED(&m->head), tail = TG__LOAD_RELAXED(&m->tail);
    int32_t d = (int32_t)(tail - head);
    return d > 0 ? (uint32_t)d : 0;
}

/* ------------------------------------------------------------------------ */
/* Work-stealing deques (nested submissions), one per core                  */
/* ------------------------------------------------------------------------ */
/* >>deques */
/* Sequentially consistent operations on top and bottom instead of stand-alone
   fences: on x86 they cost the same, and ThreadSanitizer understands them. */

static inline int tg__deque_push(tg__deque *d, uint64_t item)
{
    int64_t b = TG__LOAD_RELAXED(&d->bottom);
    /* acquire: a thief's read of the item below top is done before we
       reuse its cell; pairs with the seq_cst CAS of top in tg__deque_steal */
    int64_t t = TG__LOAD_ACQUIRE(&d->top);
    if (b - t >= (int64_t)TG__DEQUE_CAPACITY) return 0;
    TG__STORE_RELAXED(&d->items[b & (TG__DEQUE_CAPACITY - 1)], item);
    /* release: the item and its token are visible before the new bottom;
       pairs with the seq_cst load of bottom in tg__deque_steal */
    TG__STORE_RELEASE(&d->bottom, b + 1);
    return 1;
}

static int tg__deque_pop(tg__deque *d, uint64_t *item)
{
    /* only the owner adds items and thieves only take: an empty deque seen
       here stays empty, and the fence below is skipped. Relaxed: top only
       grows, so a stale top only sends us down the full path. */
    if (TG__LOAD_RELAXED(&d->bottom) <= TG__LOAD_RELAXED(&d->top)) return 0;
    int64_t b = TG__LOAD_RELAXED(&d->bottom) - 1;
    /* seq_cst store then seq_cst load of top: a thief and the owner cannot
       both miss each other's claim on the last item */
    TG__STORE_SEQ_CST(&d->bottom, b);
    int64_t t = TG__LOAD_SEQ_CST(&d->top);
    if (t > b) {
        TG__STORE_RELEASE(&d->bottom, b + 1);
        return 0;
    }
    uint64_t x = TG__LOAD_RELAXED(&d->items[b & (TG__DEQUE_CAPACITY - 1)]);
    if (t == b) {
        /* last item: race the thieves for it */
        int won = TG__CAS(&d->top, &t, t + 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
        TG__STORE_RELEASE(&d->bottom, b + 1);
        if (!won) return 0;
    }
    *item = x;
    return 1;
}

/* The owner pops the bottom item if it is `want` (a task's wait for the
   child it submitted last). 1 if it took it. */
static inline int tg__deque_pop_if(tg__deque *d, uint64_t want)
{
    /* relaxed: the owner wrote bottom and the items; a stale top only
       sends us down the full path, as in tg__deque_pop */
    int64_t b = TG__LOAD_RELAXED(&d->bottom) - 1;
    if (b < TG__LOAD_RELAXED(&d->top) || TG__LOAD_RELAXED(&d->items[b & (TG__DEQUE_CAPACITY - 1)]) != want)
        return 0;
    /* as tg__deque_pop: a thief and the owner cannot both miss each
       other's claim on the last item */
    TG__STORE_SEQ_CST(&d->bottom, b);
    int64_t t = TG__LOAD_SEQ_CST(&d->top);
    if (t < b) return 1;
    int won = t == b && TG__CAS(&d->top, &t, t + 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
    TG__STORE_RELEASE(&d->bottom, b + 1);
    return won;
}

/* 1: took an item; 0: empty; -1: lost a race (worth retrying). */
static int tg__deque_steal(tg__deque *d, uint64_t *item)
{
    int64_t t = TG__LOAD_SEQ_CST(&d->top);
    int64_t b = TG__LOAD_SEQ_CST(&d->bottom);
    if (t >= b) return 0;
    uint64_t x = TG__LOAD_RELAXED(&d->items[t & (TG__DEQUE_CAPACITY - 1)]);
    if (!TG__CAS(&d->top, &t, t + 1, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) return -1;
    *item = x;
    return 1;
}

static inline uint32_t tg__deque_depth(tg__deque *d)
{
    int64_t b = TG__LOAD_RELAXED(&d->bottom), t = TG__LOAD_RELAXED(&d->top);
    return b > t ? (uint32_t)(b - t) : 0;
}

/* ------------------------------------------------------------------------ */
/* Worker parking: spin briefly, then sleep on a futex                      */
/* ------------------------------------------------------------------------ */
/* >>parking */

static void tg__worker_wake(tg__worker *w)
{
    /* only the waker that flips sleeping 1 -> 0 pays for the system call */
    if (TG__LOAD_RELAXED(&w->sleeping) && TG__EXCHANGE(&w->sleeping, 0u)) {
        (void)TG__FETCH_ADD(&w->wake_word, 1u);
        tg__futex_wake(&w->wake_word, 1);
    }
}

static void tg__wake_all_workers(tg_scheduler *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        tg__worker *w = s->workers[i];
        /* bumping wake_word after reading nothing: a parked worker's futex
           wait on its old value returns; one about to park re-reads it */
        TG__STORE_SEQ_CST(&w->sleeping, 0u);
        (void)TG__FETCH_ADD(&w->wake_word, 1u);
        tg__futex_wake(&w->wake_word, 1);
    }
}

/* Wakes one parked worker other than `busy` to steal from it. */
static void tg__wake_thief(tg_scheduler *s, tg__worker *busy)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        tg__worker *w = s->workers[i];
        if (w != busy && TG__LOAD_RELAXED(&w->sleeping)) {
            tg__worker_wake(w);
            return;
        }
    }
}

/* After work was published for worker `target`: wakes it if parked, or, if
   the work is stealable and the target is busy running a function, one
   parked worker to steal it. A mailbox push that lands behind other queued
   tokens passes stealable 0: whoever pushed the first of them looked
   already, and the target's own look when it takes one (tg__recruit_mailbox)
   covers a backlog that grows. */
static void tg__notify_work(tg_scheduler *s, tg__worker *target, int stealable)
{
    /* full fence: our push before our reads of sleeping; pairs with the
       fence in tg__worker_park between its store of sleeping and its look
       at the queues. One of the two sides sees the other. */
    TG__FENCE_SEQ_CST();
    if (TG__LOAD_RELAXED(&target->sleeping)) {
        tg__worker_wake(target);
        return;
    }
    /* an awake target that is not running a function and has only this
       token queued is spinning for work and takes it itself */
    if (!stealable || TG__LOAD_RELAXED(&s->sleeping_count) == 0) return;
    if (!TG__LOAD_RELAXED(&target->busy) &&
        tg__deque_depth(&target->deque) + tg__mailbox_depth(&target->mailbox) <= 1)
        return;
    tg__wake_thief(s, target);
}

/* Is there work that worker w may run? Cheap, racy reads: a hint. */
static int tg__work_visible(tg_scheduler *s, tg__worker *w)
{
    if (TG__LOAD_RELAXED(&s->paused) && !TG__LOAD_RELAXED(&s->stopping)) return 0;
    if (tg__deque_depth(&w->deque) || tg__mailbox_nonempty(&w->pinned) ||
        tg__mailbox_nonempty(&w->mailbox))
        return 1;
    if (s->cfg.strict_routing) return 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        tg__worker *v = s->workers[i];
        if (tg__deque_depth(&v->deque) || tg__mailbox_nonempty(&v->mailbox)) return 1;
    }
    return 0;
}

/* Parks the core's owner until work may be there or deadline passes. */
static void tg__worker_park(tg_scheduler *s, tg__worker *w, int64_t deadline)
{
    uint32_t seen = TG__LOAD_ACQUIRE(&w->wake_word);
    /* seq_cst: announced before the fence below, which pairs with the one
       in tg__notify_work; sleeping_count is only a hint for thieves */
    TG__STORE_SEQ_CST(&w->sleeping, 1u);
    (void)TG__FETCH_ADD_SEQ_CST(&s->sleeping_count, 1u);
    /* full fence: pairs with the fence in tg__notify_work */
    TG__FENCE_SEQ_CST();
    if (!tg__work_visible(s, w) && !TG__LOAD_ACQUIRE(&s->exiting))
        (void)tg__futex_wait(&w->wake_word, seen, deadline);
    TG__STORE_RELAXED(&w->sleeping, 0u);
    /* seq_cst: like the increment before the sleep (tg__notify_work's
       Dekker read of the count) */
    (void)TG__FETCH_SUB_SEQ_CST(&s->sleeping_count, 1u);
}

/* ------------------------------------------------------------------------ */
/* Spares: threads that take a core over while its owner blocks             */
/* ------------------------------------------------------------------------ */
/* >>spares */

/* A thread's life: it serves the core handed to it (tg__serve, in the
   workers' section) until it exits or hands the core on because a task on
   its stack blocks; it then runs that task on without a core, and once its
   stack has unwound, waits in the pool (tg__pool_park) for a core to be
   handed to it. The first nworkers threads start with a core each; spares
   are started on demand by a hand-off that finds the pool empty, at most
   max_spare_workers of them, and stay (parked, no CPU) until tg_destroy. */
static void *tg__thread_main(void *arg);

/* Starts thread t (its entry in s->threads) with the configured stack. */
static int tg__thread_start(tg_scheduler *s, tg__thread *t)
{
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return TG_ESYSTEM;
    int rc = pthread_attr_setstacksize(&attr, s->cfg.stack_size) == 0 ? TG_OK : TG_ESYSTEM;
    if (rc == TG_OK && pthread_create(&t->thread, &attr, tg__thread_main, t) != 0) rc = TG_ESYSTEM;
    pthread_attr_destroy(&attr);
    if (rc == TG_OK) t->started = 1;
    return rc;
}

/* Pins the calling thread t to core w's CPU, if it is not there already. */
static void tg__thread_pin(tg_scheduler *s, tg__thread *t, tg__worker *w)
{
    int cpu = TG__LOAD_RELAXED(&w->cpu);   /* -1 once pinning failed (tg_stats reads it) */
    if (cpu < 0 || t->cpu == cpu) return;
    int err = tg__pin_current_thread(cpu);
    if (err) {
        char msg[128];
        snprintf(msg, sizeof msg, "could not pin a worker of core %u to CPU %d (errno %d); it runs unpinned",
                 w->index, cpu, err);
        tg__log(s, TG_LOG_WARN, msg);
        (void)TG__FETCH_ADD_RELAXED(&s->pin_failures, 1);
        if (t - s->threads < (ptrdiff_t)s->nworkers) TG__STORE_RELAXED(&w->cpu, -1);
        return;
    }
    t->cpu = cpu;
}

/* A thread to take core w over: the most recently parked one of the pool
   (preferring one that served w last, which is pinned there already), or a
   new one while fewer than thread_limit exist. NULL when none can be had.
   The thread is handed w before it is woken or started. */
static tg__thread *tg__spare_take(tg_scheduler *s, tg__worker *w)
{
    pthread_mutex_lock(&s->pool_lock);
    tg__thread **at = &s->pool, *t = NULL;
    for (tg__thread **p = &s->pool; *p; p = &(*p)->next)
        if ((*p)->home == w) { at = p; break; }
    if (*at) {
        t = *at;
        *at = t->next;
        /* relaxed store: tg__spares_exhausted reads it without the lock */
        TG__STORE_RELAXED(&s->pool_size, s->pool_size - 1);
    } else if (s->threads_alive < s->thread_limit) {
        t = &s->threads[s->threads_alive];
        t->sched = s;
        t->cpu = -1;
        t->home = w;
        /* release: tg_stats reads the count, then the entries below it */
        TG__STORE_RELAXED(&t->core, w);
        if (tg__thread_start(s, t) == TG_OK) {
            TG__STORE_RELEASE(&s->threads_alive, s->threads_alive + 1);
            uint32_t spares = s->threads_alive - s->nworkers;
            if (spares > s->spares_peak) TG__STORE_RELAXED(&s->spares_peak, spares);
        } else {
            t = NULL;
        }
        pthread_mutex_unlock(&s->pool_lock);
        return t;
    }
    if (t) {
        t->home = w;
        /* release: w's state (its deque, its counters) as its old owner
           left it; pairs with the acquire load in tg__pool_park */
        TG__STORE_RELEASE(&t->core, w);
        (void)TG__FETCH_ADD(&t->wake, 1u);
        tg__futex_wake(&t->wake, 1);
    }
    pthread_mutex_unlock(&s->pool_lock);
    return t;
}

/* The calling thread owns core w and a task on its stack is about to
   block: w goes to a spare, which serves it from here. 1: handed over (the
   caller owns no core any more); 0: no spare could be had, it keeps w. */
static int tg__handoff(tg_scheduler *s)
{
    tg__thread *t = tg__tls_thread;
    tg__worker *w = tg__tls_worker;
    if (!t || !w || w->sched != s || TG__LOAD_ACQUIRE(&s->exiting)) return 0;
    /* the functions this thread runs were counted in w->busy (only the
       owner counts there); they go on without a core: they move to
       busy_other, where they will be counted down (tg__run_call). seq_cst
       add before the store: tg__quiet never sees both at 0 meanwhile */
    uint32_t busy = w->busy;
    (void)TG__FETCH_ADD_SEQ_CST(&s->busy_other, busy);
    TG__STORE_RELEASE(&w->busy, 0u);
    tg__thread *spare = tg__spare_take(s, w);
    if (!spare) {
        TG__STORE_RELEASE(&w->busy, busy);
        (void)TG__FETCH_SUB_RELEASE(&s->busy_other, busy);
        return 0;
    }
    TG__STORE_RELAXED(&w->owner, spare);
    tg__tls_worker = NULL;
    t->core = NULL;
    (void)TG__FETCH_ADD_RELAXED(&s->handoffs, 1);   /* a statistic */
    return 1;
}

/* A task on thread t is about to sleep (a wait it cannot help, a blocking
   submission, a blocking section): its core, if t has one, goes to a
   spare, and t counts as blocked (the stall check, tg_info's blocked_ns).
   Returns when the sleep began; tg__block_end books it. */
static int64_t tg__block_begin(tg_scheduler *s, tg__thread *t)
{
    int64_t since = tg__stamp_ns();
    if (tg__tls_worker && tg__handoff(s) && !t->coreless_since) t->coreless_since = since;
    TG__STORE_RELAXED(&t->blocked, t->section_depth ? TG__BLOCKED_SECTION : TG__BLOCKED_ASLEEP);
    return since;
}

/* A function counts as blocked the time it slept holding its core, and
   from the moment it handed its core on to its return (it then runs
   beside the core's new owner: counted once, as that owner's run time).
   Inside a blocking section (tg_blocking_begin) the thread stays blocked
   until the section ends. */
static void tg__block_end(tg__thread *t, int64_t since)
{
    if (t->section_depth) return;
    int64_t now = tg__stamp_ns();
    if (!t->coreless_since && now > since) t->blocked_ns += (uint64_t)(now - since);
    TG__STORE_RELAXED(&t->blocked, 0u);
}

/* Waits in the pool until a core is handed to thread t or the scheduler
   exits. */
static void tg__pool_park(tg_scheduler *s, tg__thread *t)
{
    pthread_mutex_lock(&s->pool_lock);
    t->core = NULL;
    t->next = s->pool;
    s->pool = t;
    TG__STORE_RELAXED(&s->pool_size, s->pool_size + 1);   /* read unlocked too */
    pthread_mutex_unlock(&s->pool_lock);
    for (;;) {
        /* acquire: a bump after this read makes the futex wait return */
        uint32_t seen = TG__LOAD_ACQUIRE(&t->wake);
        /* acquire: pairs with the release store in tg__spare_take */
        if (TG__LOAD_ACQUIRE(&t->core) || TG__LOAD_ACQUIRE(&s->exiting)) return;
        (void)tg__futex_wait(&t->wake, seen, -1);
    }
}

/* Wakes every thread parked in the pool (tg_destroy). */
static void tg__pool_wake_all(tg_scheduler *s)
{
    pthread_mutex_lock(&s->pool_lock);
    for (tg__thread *t = s->pool; t; t = t->next) {
        (void)TG__FETCH_ADD(&t->wake, 1u);
        tg__futex_wake(&t->wake, 1);
    }
    pthread_mutex_unlock(&s->pool_lock);
}

/* ------------------------------------------------------------------------ */
/* Routing: weight home ranges, staggered position counters, overflow      */
/* ------------------------------------------------------------------------ */
/* >>routing */

static inline unsigned tg__range_start(const tg_scheduler *s, tg_weight weight)
{
    unsigned lo = weight == TG_HEAVY ? 0u : weight == TG_MEDIUM ? 1u : 2u;
    return lo < s->nworkers ? lo : s->nworkers - 1;
}

/* The core of the range [lo, n) with the lowest position counter (ties: the
   lowest core); advances that counter. */
static unsigned tg__route_pick(tg_scheduler *s, unsigned lo)
{
    unsigned best = lo;
    uint32_t best_pos = TG__LOAD_RELAXED(&s->workers[lo]->position);
    for (unsigned c = lo + 1; c < s->nworkers; c++) {
        uint32_t p = TG__LOAD_RELAXED(&s->workers[c]->position);
        if ((int32_t)(p - best_pos) < 0) { best = c; best_pos = p; }
    }
    (void)TG__FETCH_ADD_RELAXED(&s->workers[best]->position, 1u);
    return best;
}

/* One non-blocking attempt to place token `index`: a pinned token (pin >= 0,
   sections 11-12) only in core pin's pinned mailbox; else the submitting
   worker's own deque for nested submissions, else the picked core's mailbox,
   then the rest of the home range, then (unless strict) any core. */
static int tg__route_push(tg_scheduler *s, tg__worker *self, tg__slot *sl, uint32_t index, int pin)
{
    /* relaxed: the pusher's token; its pair stays while it lives */
    uint64_t entry = TG__ENTRY(index, TG__LOAD_RELAXED(&sl->gw));
    if (pin >= 0) {
        tg__worker *v = s->workers[pin];
        TG__SLOT_STORE(&sl->core, (int16_t)pin);
        if (tg__mailbox_push(&v->pinned, entry, NULL)) {
            tg__notify_work(s, v, 0);
            return 1;
        }
        TG__SLOT_STORE(&sl->core, (int16_t)-1);
        return 0;
    }
    unsigned n = s->nworkers;
    unsigned lo = tg__range_start(s, tg__slot_op(sl)->weight);
    int strict = s->cfg.strict_routing;
    if (self && (!strict || self->index >= lo)) {
        TG__SLOT_STORE(&sl->core, (int16_t)self->index);
        if (tg__deque_push(&self->deque, entry)) {
            tg__notify_work(s, self, !strict);
            return 1;
        }
    }
    unsigned first = tg__route_pick(s, lo);
    unsigned span = strict ? n - lo : n;
    unsigned c = first;
    for (unsigned k = 0; k < span; k++, c++) {
        if (k == n - lo) c = 0;           /* the range is full: overflow below it */
        else if (c == n) c = lo;          /* wrap within the range */
        tg__worker *v = s->workers[c];
        TG__SLOT_STORE(&sl->core, (int16_t)c);
        uint32_t pos;
        if (tg__mailbox_push(&v->mailbox, entry, &pos)) {
            /* the cell before ours shares its line: looking costs nothing */
            int backlog = tg__mailbox_full_at(&v->mailbox, pos - 1);
            tg__notify_work(s, v, !strict && !backlog);
            return 1;
        }
    }
    TG__SLOT_STORE(&sl->core, (int16_t)-1);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Sticky registry: keys pinned to cores, reference-counted                 */
/* ------------------------------------------------------------------------ */
/* >>sticky */

/* A registry entry is one word: tag (27 bits) << 37 | count (29 bits) << 8 |
   core (8 bits); a count of 0 means free, whatever the other bits hold. A
   key's pin, core and count change together in one read-modify-write, so no
   lock is needed and no state sits between "free" and "pinned". Nothing else
   is published through an entry, so its operations are relaxed (RMWs on one
   word are totally ordered whatever their memory order). */
#define TG__STICKY_ONE       (1ull << 8)
#define TG__STICKY_CORE(e)   ((int)((e) & 0xffu))
#define TG__STICKY_COUNT(e)  (((e) >> 8) & ((1ull << 29) - 1))
#define TG__STICKY_TAG_SHIFT 37

static inline uint64_t tg__mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

static uint64_t tg__hash_bytes(uint64_t h, const void *data, size_t size)
{
    const unsigned char *p = (const unsigned char *)data;
    while (size >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0x9e3779b97f4a7c15ull;
        h = (h << 29) | (h >> 35);
        p += 8;
        size -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < size; i++) tail |= (uint64_t)p[i] << (8 * i);
    h = (h ^ tail ^ ((uint64_t)size << 56)) * 0x9e3779b97f4a7c15ull;
    return tg__mix64(h);
}

/* The hash of a token's sticky key: anchor (or op name), then the args. */
static uint64_t tg__sticky_hash(const tg_op *op, const void *args, size_t size)
{
    const char *anchor = op->sticky_anchor[0] ? op->sticky_anchor : op->name;
    uint64_t h = tg__hash_bytes(0x7467737469636b79ull, anchor, strlen(anchor));
    return tg__hash_bytes(h ^ (uint64_t)size, args ? args : "", size);
}

/* Joins key `hash`: returns the core it is pinned to and the entry in
   *entry, or -1 when the entry is held by another live key (counted in
   sticky_overflow). A free entry is pinned to first_core, or when that is
   nworkers (no natural core) to the weight range's next core from lo. */
static int tg__sticky_join(tg_scheduler *s, uint64_t hash, unsigned first_core, unsigned lo,
                           uint32_t *entry)
{
    uint32_t i = (uint32_t)hash & s->sticky_mask;
    uint64_t tag = hash >> TG__STICKY_TAG_SHIFT;
    uint64_t *e = &s->sticky[i];
    uint64_t old = TG__LOAD_RELAXED(e);
    for (;;) {
        uint64_t desired;
        if (TG__STICKY_COUNT(old) == 0) {
            /* the position counter advances only for a key that lands */
            if (first_core == s->nworkers) first_core = tg__route_pick(s, lo);
            desired = (tag << TG__STICKY_TAG_SHIFT) | TG__STICKY_ONE | (uint64_t)first_core;
        }
        else if ((old >> TG__STICKY_TAG_SHIFT) == tag)
            desired = old + TG__STICKY_ONE;
        else {
            /* a statistic only: relaxed */
            (void)TG__FETCH_ADD_RELAXED(&s->sticky_overflow, 1);
            return -1;
        }
        if (TG__CAS(e, &old, desired, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            *entry = i;
            return TG__STICKY_CORE(desired);
        }
    }
}

/* One token of the entry's key reached a terminal state. */
static inline void tg__sticky_leave(tg_scheduler *s, uint32_t entry)
{
    (void)TG__FETCH_SUB_RELAXED(&s->sticky[entry], TG__STICKY_ONE);
}

/* ------------------------------------------------------------------------ */
/* Hash conductor: domains of a lead and its descendants on one core        */
/* ------------------------------------------------------------------------ */
/* >>conductor */

#define TG__MAX_CALLS 64

/* counts = pending << 32 | refs. pending: members not yet terminal (the
   domain is open while it is > 0). refs: slots naming the entry (tg_info
   reads the seed from it); the entry is free again at counts == 0. A member
   holds both from its join, gives pending back when it ends and its ref when
   its slot is recycled, so refs >= pending always. The fields are written
   by the lead's submitter before its token is published, and read by
   members (which run after the lead started: happens-after) and by tg_info
   (whose generation check rejects a read that raced a reuse). lead: the
   lead's handle, cleared by the last ref before the entry is free again;
   killed: its lead was killed (tg__domain_kill), members do not start. */
typedef struct tg__domain {
    uint64_t counts;
    uint64_t lead;
    int32_t core;
    uint32_t killed;
    uint8_t digest[32];
} tg__domain;

#define TG__DOMAIN_PENDING (1ull << 32)

/* Checks an op's external calls and sorts the distinct ones into calls[]:
   their count (0: not a lead), or TG_EINVAL for an empty call, a call with
   a ',' or more than TG__MAX_CALLS of them. */
static int tg__calls_canonical(const tg_op *op, const char **calls)
{
    if (!op->external_calls) return 0;
    unsigned n = 0;
    for (const char *const *c = op->external_calls; *c; c++) {
        if (!(*c)[0] || strchr(*c, ',')) return TG_EINVAL;
        /* insertion sort; equal strings are kept once */
        unsigned at = n;
        int dup = 0;
        while (at > 0) {
            int cmp = strcmp(calls[at - 1], *c);
            if (cmp == 0) { dup = 1; break; }
            if (cmp < 0) break;
            at--;
        }
        if (dup) continue;
        if (n == TG__MAX_CALLS) return TG_EINVAL;   /* distinct calls, counted after duplicates go */
        memmove(calls + at + 1, calls + at, (n - at) * sizeof calls[0]);
        calls[at] = *c;
        n++;
    }
    return (int)n;
}

/* Opens a domain for a lead about to be published as `lead` on `core`:
   entry + 1, or 0 when every entry is in use (counted in domain_overflow). */
static uint32_t tg__domain_open(tg_scheduler *s, int core, tg_token lead,
                                const char *const *calls, unsigned ncalls)
{
    uint32_t cap = s->cfg.max_domains;
    uint32_t i = TG__FETCH_ADD_RELAXED(&s->domain_next, 1u) % cap;
    for (uint32_t k = 0; k < cap; k++, i = i + 1 == cap ? 0 : i + 1) {
        tg__domain *d = &s->domains[i];
        uint64_t expected = 0;
        if (TG__LOAD_RELAXED(&d->counts) != 0) continue;
        /* acquire: the entry's last members are done with it */
        if (!TG__CAS(&d->counts, &expected, TG__DOMAIN_PENDING | 1u, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        /* the seed: SHA-256 of "<lead id>:<calls>" (section 12) */
        char id[24];
        uint8_t digest[32];
        int len = snprintf(id, sizeof id, "%llu:", (unsigned long long)lead.bits);
        tg_sha256_ctx ctx;
        tg_sha256_init(&ctx);
        tg_sha256_update(&ctx, id, (size_t)len);
        for (unsigned c = 0; c < ncalls; c++) {
            if (c) tg_sha256_update(&ctx, ",", 1);
            tg_sha256_update(&ctx, calls[c], strlen(calls[c]));
        }
        tg_sha256_final(&ctx, digest);
        for (unsigned b = 0; b < 32; b++) TG__STORE_RELAXED(&d->digest[b], digest[b]);
        TG__STORE_RELAXED(&d->core, (int32_t)core);
        TG__STORE_RELAXED(&d->killed, 0u);
        TG__STORE_RELAXED(&d->lead, lead.bits);
        return i + 1;
    }
    /* a statistic only: relaxed */
    (void)TG__FETCH_ADD_RELAXED(&s->domain_overflow, 1);
    return 0;
}

/* A token submitted from a running member joins the member's domain: its
   core, or -1 when the domain was already released (counted in
   domain_late). The member's own ref keeps the entry from reuse meanwhile. */
static int tg__domain_join(tg_scheduler *s, uint32_t domain)
{
    tg__domain *d = &s->domains[domain - 1];
    uint64_t old = TG__LOAD_RELAXED(&d->counts);
    for (;;) {
        if ((old >> 32) == 0) {
            /* a statistic only: relaxed */
            (void)TG__FETCH_ADD_RELAXED(&s->domain_late, 1);
            return -1;
        }
        /* relaxed: the counts are all the CAS decides; the core was
           published with the lead, before any member ran */
        if (TG__CAS(&d->counts, &old, old + TG__DOMAIN_PENDING + 1u, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return TG__LOAD_RELAXED(&d->core);
    }
}

/* A member reached a terminal state. */
static inline void tg__domain_leave(tg_scheduler *s, uint32_t domain)
{
    /* relaxed: only the count moves; the entry is freed by the refs
       (tg__domain_unref), not by this */
    (void)TG__FETCH_SUB_RELAXED(&s->domains[domain - 1].counts, TG__DOMAIN_PENDING);
}

/* A member's slot was recycled. release: our reads of the entry (tg_info's
   seed) come before a new lead rewrites it; pairs with the acquire CAS in
   tg__domain_open. Once pending is 0 nothing adds a ref (joins and
   tg__domain_hold need pending > 0), so the last ref is known before it
   goes: it clears the lead, and a hold on the entry's next domain (its
   acquire CAS is in this release sequence) never reads this one's lead. */
static void tg__domain_unref(tg_scheduler *s, uint32_t domain)
{
    tg__domain *d = &s->domains[domain - 1];
    if (TG__LOAD_RELAXED(&d->counts) == 1u) TG__STORE_RELAXED(&d->lead, (uint64_t)0);
    (void)TG__FETCH_SUB_RELEASE(&d->counts, 1u);
}

/* Was the domain of this member killed with its lead? Its ref keeps the
   entry this domain's. Acquire: pairs with the seq_cst store in
   tg__domain_kill. */
static inline int tg__domain_killed(tg_scheduler *s, const tg__slot *sl)
{
    uint32_t domain = TG__LOAD_RELAXED(&sl->domain);
    return domain && TG__LOAD_ACQUIRE(&s->domains[domain - 1].killed);
}

/* TG_OK when the op's external calls are well formed (a lead or not). */
static int tg__calls_check(const tg_op *op)
{
    const char *calls[TG__MAX_CALLS];
    int n = tg__calls_canonical(op, calls);
    return n < 0 ? n : TG_OK;
}

/* Where a new token with a sticky anchor, external calls or a domain to
   inherit must run (section 12's rules), decided before it is published:
   the pinned core, or -1 for free routing. Joins the registry (*flags gets
   W_STICKY, sl->link the entry) or a domain (sl->domain). Plain tokens
   never come here. */
static int tg__place(tg_scheduler *s, tg__worker *near, tg__slot *sl, tg_token self,
                     const tg_op *op, const void *args, size_t size, uint32_t *flags)
{
    const char *calls[TG__MAX_CALLS];
    int counted = tg__calls_canonical(op, calls);
    unsigned ncalls = counted > 0 ? (unsigned)counted : 0u;
    unsigned lo = tg__range_start(s, op->weight);
    /* a nested token's natural first core is its submitter's */
    unsigned first = (near && (!s->cfg.strict_routing || near->index >= lo)) ? near->index : s->nworkers;
    uint32_t entry;
    int core = -1;
    if (!ncalls && near && tg__tls_slot) {
        uint32_t parent = TG__LOAD_RELAXED(&tg__tls_slot->domain);
        if (parent) {
            core = tg__domain_join(s, parent);
            if (core >= 0) {
                TG__STORE_RELAXED(&sl->domain, parent);
                *flags |= TG__W_DOMAIN;
                return core;
            }
        }
    }
    if (op->sticky_anchor) {
        core = tg__sticky_join(s, tg__sticky_hash(op, args, size), first, lo, &entry);
        if (core >= 0) {
            TG__STORE_RELAXED(&sl->link, entry);
            *flags |= TG__W_STICKY;
        }
    }
    if (ncalls) {
        if (core < 0) core = first < s->nworkers ? (int)first : (int)tg__route_pick(s, lo);
        uint32_t domain = tg__domain_open(s, core, self, calls, ncalls);
        TG__STORE_RELAXED(&sl->domain, domain);
        if (domain) *flags |= TG__W_DOMAIN;
        else if (!(*flags & TG__W_STICKY)) core = -1;
    }
    return core;
}

/* ------------------------------------------------------------------------ */
/* Health guard: how well each op runs, and ops refused while failing      */
/* ------------------------------------------------------------------------ */
/* >>guard */

/* An op's guard (in its registry entry). The guard judges only the runs
   since the last tg_op_unblock: the marks hold the op's counts then. */
typedef struct tg__guard {
    uint32_t blocked;            /* refused: tg_submit returns TG_EBLOCKED */
    uint64_t attempts_mark;      /* attempts and failures at the last */
    uint64_t failures_mark;      /* tg_op_unblock */
} tg__guard;

/* tg_op_stats' health class of an op with these counts. */
static int tg__health_class(uint64_t attempts, uint64_t successes)
{
    if (attempts < 5) return TG_HEALTH_UNKNOWN;
    if (successes * 100 >= attempts * 95) return TG_HEALTH_EXCELLENT;
    if (successes * 100 >= attempts * 80) return TG_HEALTH_HEALTHY;
    if (successes * 100 >= attempts * 50) return TG_HEALTH_AT_RISK;
    return TG_HEALTH_PROBLEMATIC;
}

static inline int tg__guard_blocked(const tg__guard *g)
{
    return TG__LOAD_RELAXED(&g->blocked) != 0;
}

/* Blocks the op once more than 90% of at least 10 runs since the marks
   failed (sum: the op's counts now). */
static void tg__guard_judge(tg__guard *g, const tg__opcount *sum)
{
    uint64_t attempts = sum->successes + sum->failures - TG__LOAD_RELAXED(&g->attempts_mark);
    uint64_t failures = sum->failures - TG__LOAD_RELAXED(&g->failures_mark);
    if (attempts >= 10 && failures * 10 > attempts * 9) TG__STORE_RELAXED(&g->blocked, 1u);
}

/* tg_op_unblock: the guard judges only the runs after this. */
static void tg__guard_reset(tg__guard *g, const tg__opcount *sum)
{
    TG__STORE_RELAXED(&g->attempts_mark, sum->successes + sum->failures);
    TG__STORE_RELAXED(&g->failures_mark, sum->failures);
    TG__STORE_RELAXED(&g->blocked, 0u);
}

/* ------------------------------------------------------------------------ */
/* Operations registry: per-op entries, names, counts and histograms        */
/* ------------------------------------------------------------------------ */
/* >>ops */

/* Log-linear histogram of nanoseconds: 4 buckets per power of two (so a
   bucket's upper edge is at most 25% above any value in it) up to 2^40 ns;
   larger values share the last bucket. One per (worker, op), written by
   its worker only. */
#define TG__HIST_BUCKETS 160
typedef struct tg__ophist {
    uint64_t exec[TG__HIST_BUCKETS];
    uint64_t wait[TG__HIST_BUCKETS];
    uint64_t exec_sum, wait_sum;         /* ns, for Prometheus' _sum */
    uint64_t blocked_sum;                /* ns its runs spent blocked */
} tg__ophist;

/* An operation seen by tg_submit: the entry is claimed once (under
   ops_lock) and never freed. The read-mostly flags come first; a token's
   slot names its entry by index (opi). */
typedef struct tg__opent {
    const char *name;            /* a copy, set once before the entry is published */
    size_t name_size;            /* bytes allocated for the copy; 0: in name_inline */
    char name_inline[48];        /* short names need no allocation */
    uint32_t paused;             /* tg_op_pause: tokens wait in the held list */
    uint32_t epoch;              /* bumped by each drain and kill */
    uint32_t drain_mark;         /* tokens of an earlier epoch never start */
    uint32_t kill_mark;          /* ...and running ones are asked to stop */
    tg__guard guard;             /* the health guard's state (its section) */
    uint32_t live;               /* live tokens, counted when op->max_live */
    struct tg__event room;       /* submitters waiting for live < max_live */
    pthread_mutex_t lock;        /* the held list and pause moves */
    uint32_t held_head, held_tail; /* index + 1; FIFO through held_link */
    tg__opcount outside;         /* counts by outside threads (atomic) */
    tg__ophist hist;             /* runs on threads without a core (atomic) */
} tg__opent;


#define TG__COUNT_OP(s, w, opi, field)                                                  \
    do {                                                                                 \
        if (w) TG__STAT_STORE(&(w)->opc[opi].field,                                  \
                                 TG__LOAD_RELAXED(&(w)->opc[opi].field) + 1);            \
        else (void)TG__FETCH_ADD_RELAXED(&(s)->ops[opi].outside.field, 1);             \
    } while (0)

/* The registry has one entry per op name (max_ops of them): every tg_op
   of that name shares its counts and controls. The entry owns a copy of
   the name, so nothing in the registry refers to a caller's tg_op after
   its tokens are gone (a token's slot keeps its own op pointer). Entries
   are claimed under ops_lock and never freed before tg_destroy; lookups
   are lock-free (tg__op_find). */

/* The cell of the open-addressed name hash where a lookup of `name` starts. */
static inline uint32_t tg__op_hash(const char *name, uint32_t mask)
{
    return (uint32_t)tg__hash_bytes(0x6f70206e616d6573ull, name, strlen(name)) & mask;
}

/* The calling thread's last lookup: a thread submitting one op again and
   again skips the hash. Keyed by the scheduler's serial (unique per
   tg_create in the process), never by its address; checked against the
   entry's name, since a freed op's address may come back with another. */
static TG__THREAD_LOCAL struct { uint64_t serial; const tg_op *op; uint32_t opi; } tg__tls_op;

/* The entry named `name` (lock-free), or 0 when none; the hash cell where
   a new one would go in *cell_at. */
static uint32_t tg__op_find(tg_scheduler *s, const char *name, uint32_t *cell_at)
{
    uint32_t mask = s->op_hash_mask;
    uint32_t h = tg__op_hash(name, mask);
    for (uint32_t k = 0; k <= mask; k++, h = (h + 1) & mask) {
        /* acquire: the entry is complete; pairs with the release store of
           the cell in tg__op_insert */
        uint32_t cell = TG__LOAD_ACQUIRE(&s->op_hash[h]);
        if (cell == 0) break;
        if (strcmp(s->ops[cell - 1].name, name) == 0) return cell;
    }
    *cell_at = h;
    return 0;
}

/* Claims an entry for `name` (under ops_lock): index + 1, or 0 with
   TG_EOPLIMIT or TG_ENOMEM in *rc. */
static uint32_t tg__op_insert(tg_scheduler *s, const char *name, int *rc)
{
    uint32_t at = 0;
    uint32_t cell = tg__op_find(s, name, &at);
    if (cell) return cell;
    uint32_t i = s->op_count;
    if (i == s->cfg.max_ops) { *rc = TG_EOPLIMIT; return 0; }
    size_t n = strlen(name) + 1;
    char *copy = s->ops[i].name_inline;
    if (n > sizeof s->ops[i].name_inline) {
        copy = (char *)tg__alloc(s, n);
        if (!copy) { *rc = TG_ENOMEM; return 0; }
        s->ops[i].name_size = n;
    }
    memcpy(copy, name, n);
    s->ops[i].name = copy;
    /* release, both: the entry before its count and its cell; pair with
       the acquire loads in tg__op_count and tg__op_find */
    TG__STORE_RELEASE(&s->op_count, i + 1);
    TG__STORE_RELEASE(&s->op_hash[at], i + 1);
    return i + 1;
}

/* The entry of op's name, claimed on first sight. TG_EOPLIMIT past
   max_ops names, TG_ENOMEM. The thread's last op is remembered; its name
   is compared again (a freed tg_op's address may come back with another
   name). */
static __attribute__((noinline)) int tg__op_lookup_slow(tg_scheduler *s, const tg_op *op, uint32_t *opi)
{
    uint32_t at;
    uint32_t cell = tg__op_find(s, op->name, &at);
    int rc = TG_OK;
    if (!cell) {
        pthread_mutex_lock(&s->ops_lock);
        cell = tg__op_insert(s, op->name, &rc);
        pthread_mutex_unlock(&s->ops_lock);
        if (!cell) return rc != TG_OK ? rc : TG_EOPLIMIT;
    }
    *opi = cell - 1;
    tg__tls_op.serial = s->serial;
    tg__tls_op.op = op;
    tg__tls_op.opi = cell - 1;
    return TG_OK;
}

/* The common case inline: the op this thread submitted last. */
TG__HOT_INLINE int tg__op_lookup(tg_scheduler *s, const tg_op *op, uint32_t *opi)
{
    if (TG__LIKELY(tg__tls_op.op == op && tg__tls_op.serial == s->serial &&
                   strcmp(s->ops[tg__tls_op.opi].name, op->name) == 0)) {
        *opi = tg__tls_op.opi;
        return TG_OK;
    }
    return tg__op_lookup_slow(s, op, opi);
}

/* How many entries are claimed; entries 0..n-1 are readable. acquire:
   pairs with the release store of the count in tg__op_lookup. */
static inline uint32_t tg__op_count(tg_scheduler *s)
{
    return TG__LOAD_ACQUIRE(&s->op_count);
}

static void tg__opcount_add(tg__opcount *sum, const tg__opcount *c)
{
    /* acquire: pairs with the counters' release stores (TG__COUNT_OP) */
    sum->successes += TG__STAT_LOAD(&c->successes);
    sum->failures += TG__STAT_LOAD(&c->failures);
    sum->retried += TG__STAT_LOAD(&c->retried);
    sum->failed += TG__STAT_LOAD(&c->failed);
    sum->killed += TG__STAT_LOAD(&c->killed);
    sum->timed_out += TG__STAT_LOAD(&c->timed_out);
}

/* Sums the op's counts over the workers and the outside row. */
static void tg__op_sum(tg_scheduler *s, uint32_t opi, tg__opcount *sum)
{
    memset(sum, 0, sizeof *sum);
    tg__opcount_add(sum, &s->ops[opi].outside);
    for (unsigned i = 0; i < s->nworkers; i++) tg__opcount_add(sum, &s->workers[i]->opc[opi]);
}

static inline unsigned tg__hist_bucket(uint64_t ns)
{
    if (ns < 4) return (unsigned)ns;
    unsigned p = 63u - (unsigned)__builtin_clzll(ns);      /* floor(log2 ns) >= 2 */
    unsigned b = 4u * (p - 1u) + (unsigned)((ns >> (p - 2u)) & 3u);
    return b < TG__HIST_BUCKETS ? b : TG__HIST_BUCKETS - 1u;
}

/* The bucket's upper edge (the next bucket's lower edge), in ns. */
static uint64_t tg__hist_upper(unsigned b)
{
    b++;
    if (b < 4) return b;
    unsigned p = b / 4u + 1u;
    return (uint64_t)(4u + b % 4u) << (p - 2u);
}

/* The worker's own count (one writer: a release store, like TG__COUNT). */
static inline void tg__hist_add(uint64_t *h, uint64_t ns, int shared)
{
    uint64_t *c = &h[tg__hist_bucket(ns)];
    if (shared) (void)TG__FETCH_ADD_RELAXED(c, 1);   /* threads without a core */
    else TG__STAT_STORE(c, TG__LOAD_RELAXED(c) + 1);
}

/* The q-quantile (q in 0..1) of the summed histogram, 0 when it is empty. */
static uint64_t tg__hist_quantile(const uint64_t *sum, double q)
{
    uint64_t n = 0;
    for (unsigned b = 0; b < TG__HIST_BUCKETS; b++) n += sum[b];
    if (!n) return 0;
    uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < TG__HIST_BUCKETS; b++) {
        seen += sum[b];
        if (seen >= rank) return tg__hist_upper(b);
    }
    return tg__hist_upper(TG__HIST_BUCKETS - 1u);
}

/* After a failed run, with auto_block: lets the health guard judge the op. */
static void tg__op_judge(tg_scheduler *s, uint32_t opi)
{
    tg__opent *e = &s->ops[opi];
    if (tg__guard_blocked(&e->guard)) return;
    tg__opcount sum;
    tg__op_sum(s, opi, &sum);
    tg__guard_judge(&e->guard, &sum);
}

/* ------------------------------------------------------------------------ */
/* Admission: slots (max_tokens) and room in the mailboxes                  */
/* ------------------------------------------------------------------------ */
/* >>admission */

static int tg__run_one(tg_scheduler *s, tg__worker *w);
static uint64_t tg__live_count(tg_scheduler *s, struct tg__counters *sum);

/* A token ended where no worker will go idle after it (an outside thread
   killed it or gave up submitting it), or a worker went idle: tell
   tg_wait_idle callers to look. */
static inline void tg__idle_signal(tg_scheduler *s)
{
    /* full fence: our counter update before the look at waiters; pairs with
       the fence in tg__event_wait */
    TG__FENCE_SEQ_CST();
    tg__event_signal(&s->idle_event);
}

static int tg__slot_ready(void *ctx)
{
    tg_scheduler *s = (tg_scheduler *)ctx;
    return tg__mailbox_nonempty(&s->free_ring) || (uint32_t)TG__LOAD_RELAXED(&s->free_head) != 0 ||
           TG__LOAD_RELAXED(&s->fresh) < s->slot_capacity || !TG__LOAD_SEQ_CST(&s->accepting);
}

/* A blocked outside submitter waits for one of the mailboxes it may use to
   drain to half full, not for a single free cell: it then submits a run of
   tokens per wake-up instead of one, and leaves the workers their CPUs. */
typedef struct tg__space_want {
    tg_scheduler *s;
    unsigned lo;          /* mailboxes lo..n-1; all of them unless strict */
    int pin;              /* >= 0: only that core's pinned mailbox */
} tg__space_want;

static inline uint32_t tg__space_mark(const tg_scheduler *s)
{
    return s->cfg.mailbox_capacity / 2;
}

static int tg__space_ready(void *ctx)
{
    tg__space_want *want = (tg__space_want *)ctx;
    tg_scheduler *s = want->s;
    if (!TG__LOAD_SEQ_CST(&s->accepting)) return 1;
    if (want->pin >= 0)
        return tg__mailbox_depth(&s->workers[want->pin]->pinned) <= tg__space_mark(s);
    for (unsigned i = want->lo; i < s->nworkers; i++)
        if (tg__mailbox_depth(&s->workers[i]->mailbox) <= tg__space_mark(s)) return 1;
    return 0;
}

static int tg__accepting_draining(tg_scheduler *s)
{
    /* while draining, tasks may still submit: their children are part of
       the work being drained */
    return tg__task_thread(s) && !TG__LOAD_ACQUIRE(&s->cancelling) && !TG__LOAD_ACQUIRE(&s->stopping);
}

static inline int tg__accepting(tg_scheduler *s)
{
    return TG__LIKELY(TG__LOAD_SEQ_CST(&s->accepting)) || tg__accepting_draining(s);
}

/* Has a blocking submission run out of time? (deadline -1: never) */
static inline int tg__expired(int64_t deadline)
{
    return deadline >= 0 && tg__now_ns() >= deadline;
}

/* The stall check. Nothing in the scheduler can move when no thread runs
   a function (each is asleep in a wait or a submission, idle or in the
   pool; a blocking section moves on its own) and no token waits in a run
   queue whose core's owner could take it (one that is not asleep); only
   an outside thread could then free what a blocked task waits for.
   Racy reads: the callers ask again over TG__STALL_NS. */
static int tg__stalled_now(tg_scheduler *s)
{
    /* acquire: the entries below the count are started */
    uint32_t n = TG__LOAD_ACQUIRE(&s->threads_alive);
    for (uint32_t i = 0; i < n; i++)
        if (TG__LOAD_RELAXED(&s->threads[i].depth) &&
            TG__LOAD_RELAXED(&s->threads[i].blocked) != TG__BLOCKED_ASLEEP)
            return 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        tg__worker *w = s->workers[i];
        tg__thread *owner = TG__LOAD_RELAXED(&w->owner);
        if ((tg__deque_depth(&w->deque) || tg__mailbox_nonempty(&w->mailbox) ||
             tg__mailbox_nonempty(&w->pinned)) &&
            !(owner && TG__LOAD_RELAXED(&owner->blocked) == TG__BLOCKED_ASLEEP))
            return 0;
    }
    return 1;
}

/* What moves when anything in the scheduler does: runs and ends. */
static uint64_t tg__progress(tg_scheduler *s)
{
    tg__counters sum;
    (void)tg__live_count(s, &sum);
    return sum.admitted + sum.completed + sum.failed + sum.killed + sum.timed_out + sum.freed;
}

#define TG__STALL_NS 50000000   /* a stall this long is reported (TG_EDEADLK) */
#define TG__ROOM_KEEP_NS 1000000 /* a task waiting for room keeps its core this long */

/* A task waits for room to submit (a slot, a place under its op's
   max_live, room in a queue), sleeping on event e until ready(ctx) or the
   deadline, like an outside thread. For TG__ROOM_KEEP_NS it keeps its
   core (tokens ending elsewhere give slots back; a spare started now
   would only take more), then hands it to a spare (queued tokens of this
   core may be what gives room back). No task sleeps silently forever:
   TG_EDEADLK once the scheduler has been stalled (tg__stalled_now, no
   progress) for TG__STALL_NS meanwhile: every worker is blocked, so no
   slot or room will come back from inside. The first to see it tells
   every other task waiting for room (stall_epoch): they give up too. */
static void tg__stall_report(tg_scheduler *s)
{
    (void)TG__FETCH_ADD(&s->stall_epoch, 1u);
    tg__event_wake_all(&s->slot_event);
    tg__event_wake_all(&s->space_event);
    for (uint32_t i = 0, n = tg__op_count(s); i < n; i++) tg__event_wake_all(&s->ops[i].room);
}

static int tg__task_wait_room(tg_scheduler *s, tg__thread *t, tg__event *e,
                              int (*ready)(void *), void *ctx, int64_t deadline)
{
    /* acquire: pairs with the bump in tg__stall_report */
    uint32_t epoch = TG__LOAD_ACQUIRE(&s->stall_epoch);
    int64_t keep = tg__now_ns() + TG__ROOM_KEEP_NS;
    if (deadline >= 0 && deadline < keep) keep = deadline;
    tg__event_wait(e, ready, ctx, keep, TG__ROOM_KEEP_NS);
    if (ready(ctx) || tg__expired(deadline)) return TG_OK;
    int64_t since = tg__block_begin(s, t);
    int64_t stalled_at = -1;
    uint64_t mark = 0;
    int rc = TG_OK;
    while (!ready(ctx) && !tg__expired(deadline)) {
        int64_t slice = tg__now_ns() + 10000000;
        tg__event_wait(e, ready, ctx, deadline >= 0 && deadline < slice ? deadline : slice, 1000000);
        if (TG__LOAD_ACQUIRE(&s->stall_epoch) != epoch) {
            rc = TG_EDEADLK;
            break;
        }
        if (!tg__stalled_now(s)) { stalled_at = -1; continue; }
        uint64_t now_mark = tg__progress(s);
        if (stalled_at < 0 || now_mark != mark) {
            stalled_at = tg__now_ns();
            mark = now_mark;
        } else if (tg__now_ns() - stalled_at >= TG__STALL_NS) {
            tg__stall_report(s);
            rc = TG_EDEADLK;
            break;
        }
    }
    tg__block_end(t, since);
    return rc;
}

/* A slot for a new token under the full policy, by deadline. The
   calling thread's core is read again after each wait (a task's wait
   hands it on). */
static int tg__slot_acquire(tg_scheduler *s, uint32_t *index, int64_t deadline)
{
    for (;;) {
        tg__worker *w = tg__current_worker(s);
        int rc = tg__slot_try_take(s, w, index);
        if (rc != TG_EBUSY) return rc;
        if (s->cfg.full_policy == TG_FULL_REJECT) return TG_EBUSY;
        if (!tg__accepting(s)) return TG_ESHUTDOWN;
        if (tg__expired(deadline)) return TG_ETIMEDOUT;
        tg__thread *t = tg__task_thread(s);
        if (w) tg__cache_flush(s, w);
        rc = TG_OK;
        if (t) rc = tg__task_wait_room(s, t, &s->slot_event, tg__slot_ready, s, deadline);
        else tg__event_wait(&s->slot_event, tg__slot_ready, s, deadline, 10000000);
        if (rc != TG_OK) return rc;
    }
}

typedef struct tg__room_want {
    tg_scheduler *s;
    tg__opent *e;
    unsigned max_live;
} tg__room_want;

static int tg__op_room_ready(void *ctx)
{
    tg__room_want *want = (tg__room_want *)ctx;
    return TG__LOAD_SEQ_CST(&want->e->live) < want->max_live || !TG__LOAD_SEQ_CST(&want->s->accepting);
}

/* Counts a new token of an op with max_live into the op's live tokens,
   waiting for room under TG_FULL_BLOCK until deadline. */
static int tg__op_admit(tg_scheduler *s, uint32_t opi, unsigned max_live, int64_t deadline)
{
    tg__opent *e = &s->ops[opi];
    for (;;) {
        uint32_t cur = TG__LOAD_RELAXED(&e->live);
        /* the count is the only thing the CAS decides: relaxed */
        while (cur < max_live)
            if (TG__CAS(&e->live, &cur, cur + 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return TG_OK;
        if (s->cfg.full_policy == TG_FULL_REJECT) return TG_EBUSY;
        if (!tg__accepting(s)) return TG_ESHUTDOWN;
        if (tg__expired(deadline)) return TG_ETIMEDOUT;
        tg__room_want want;
        want.s = s;
        want.e = e;
        want.max_live = max_live;
        tg__thread *t = tg__task_thread(s);
        if (t) {
            int rc = tg__task_wait_room(s, t, &e->room, tg__op_room_ready, &want, deadline);
            if (rc != TG_OK) return rc;
        } else {
            tg__event_wait(&e->room, tg__op_room_ready, &want, deadline, 10000000);
        }
    }
}

/* A token counted by tg__op_admit ended or was refused. */
static void tg__op_unadmit(tg_scheduler *s, uint32_t opi)
{
    tg__opent *e = &s->ops[opi];
    (void)TG__FETCH_SUB_RELAXED(&e->live, 1u);
    /* full fence: the freed place before the look at waiters; pairs with
       the fence in tg__event_wait */
    TG__FENCE_SEQ_CST();
    tg__event_signal(&e->room);
}

/* ------------------------------------------------------------------------ */
/* Token ends: one claim, one terminal move, holds given back once          */
/* ------------------------------------------------------------------------ */
/* >>ends */

static void tg__notify_push(tg_scheduler *s, uint32_t index)
{
    tg__slot *sl = tg__slot_at(s, index);
    tg__list_enter(s, index, TG__LIST_NOTIFY);
    uint32_t old = TG__LOAD_RELAXED(&s->notify_head);
    do {
        TG__STORE_RELAXED(&sl->link, old);
        /* release: the token's end is visible to whoever takes the list */
    } while (!TG__CAS(&s->notify_head, &old, index + 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    if (old == 0) {
        uint64_t one = 1;
        ssize_t wr = write(s->event_fd, &one, sizeof one);
        TG__UNUSED(wr);
    }
}

/* Token ends. Exactly one thread ends a token: the one whose claim (a CAS
   that sets W_ENDING on a live word) succeeds. It then writes the end stamp
   and, for the worker, the result, gives back the holds, counts the end,
   and makes the terminal move, in that order: a waiter that sees the
   terminal state (acquire) sees the stamp, the result and the counts, and a
   thread that lost the claim never writes anything. */
#define TG__FROM(state) (1u << (unsigned)(state))
#define TG__FROM_UNSTARTED (TG__FROM(TG_CREATED) | TG__FROM(TG_WAITING) | TG__FROM(TG_ADMITTED))
#define TG__FROM_LIVE (TG__FROM_UNSTARTED | TG__FROM(TG_EXECUTING))
/* What threads other than its submitter may end: a CREATED token is still
   being set up (its pins and domain are written after it is published). */
#define TG__FROM_QUEUED (TG__FROM(TG_WAITING) | TG__FROM(TG_ADMITTED))
#define TG__FROM_VISIBLE (TG__FROM_QUEUED | TG__FROM(TG_EXECUTING))

enum { TG__CLAIM_LOST = 0, TG__CLAIM_WON = 1 };

/* Claims a live token whose state is in `from` for ending it. gen != 0:
   only while the slot holds that generation (a move through a handle).
   TG__CLAIM_WON, TG__CLAIM_LOST (ended, being ended, or in a state not in
   `from`: *seen says which), or TG_ESTALE. */
static int tg__token_claim(tg__slot *sl, uint32_t gen, uint32_t from, uint64_t *seen)
{
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    for (;;) {
        if (gen && TG__GEN(old) != gen) return TG_ESTALE;
        uint32_t word = TG__WORD(old);
        if (word & TG__W_STAMPING) {   /* a few stores of its submitter */
            sched_yield();
            old = TG__LOAD_ACQUIRE(&sl->gw);
            continue;
        }
        if (TG__IS_TERMINAL(word) || (word & TG__W_ENDING) || !(from & TG__FROM(word & TG__STATE_MASK))) {
            *seen = old;
            return TG__CLAIM_LOST;
        }
        /* slot-word RMW (conventions above) */
        if (TG__CAS(&sl->gw, &old, old | TG__W_ENDING, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *seen = old | TG__W_ENDING;
            return TG__CLAIM_WON;
        }
    }
}

/* An ender counts the token's end before its terminal move (whoever sees
   the move sees the count), so between the two the token is neither live
   by the counts nor terminal. These counters cover that step: tg_wait_idle
   and tg_shutdown wait for them to be 0. A worker's own (one writer, plain
   stores; begin before the count's release store, done after the move
   with release), or the outside threads' shared one (atomic). */
static inline void tg__ending_begin(tg_scheduler *s, tg__worker *w)
{
    if (w) TG__STORE_RELAXED(&w->ending, w->ending + 1u);
    else (void)TG__FETCH_ADD_SEQ_CST(&s->ending, 1u);   /* seq_cst: like TG__COUNT's */
}

static inline void tg__ending_done(tg_scheduler *s, tg__worker *w)
{
    if (w) TG__STORE_RELEASE(&w->ending, w->ending - 1u);   /* pairs with tg__ending */
    else (void)TG__FETCH_SUB_RELEASE(&s->ending, 1u);
}

/* Is an end under way? Read after the counts (tg__live_count): a reader
   that saw an end counted sees its ender's begin, or its done and the move. */
static int tg__ending(tg_scheduler *s)
{
    if (TG__LOAD_ACQUIRE(&s->ending)) return 1;
    for (unsigned i = 0; i < s->nworkers; i++)
        if (TG__LOAD_ACQUIRE(&s->workers[i]->ending)) return 1;
    return 0;
}

/* Gives back what a token held while it was live: its sticky pin (entry
   `sticky`, read while the slot's link still held it), its place in its
   domain and under its op's max_live. Once per token, when it is terminal
   and no function of it runs, or when its submission is abandoned. */
static void tg__token_holds_return(tg_scheduler *s, tg__slot *sl, uint32_t word, uint32_t sticky)
{
    if (word & TG__W_STICKY) tg__sticky_leave(s, sticky);
    uint32_t domain = TG__LOAD_RELAXED(&sl->domain);
    if (domain) tg__domain_leave(s, domain);
    if (word & TG__W_LIMITED) tg__op_unadmit(s, TG__LOAD_RELAXED(&sl->opi));
}

static void tg__end_count(tg_scheduler *s, tg__worker *w, uint32_t opi, tg_state final)
{
    switch (final) {
    case TG_COMPLETED: TG__COUNT(s, w, completed); break;
    case TG_FAILED: TG__COUNT_OP(s, w, opi, failed); TG__COUNT(s, w, failed); break;
    case TG_TIMEOUT: TG__COUNT_OP(s, w, opi, timed_out); TG__COUNT(s, w, timed_out); break;
    default: TG__COUNT_OP(s, w, opi, killed); TG__COUNT(s, w, killed); break;
    }
}

/* Wakes everyone who watches the token of word `old` (waiters flagged it)
   after a terminal move or a release. */
static void tg__token_wake(tg_scheduler *s, tg__slot *sl, uint32_t old)
{
    if (old & TG__W_WAITER) tg__futex_wake(tg__slot_futex(sl), INT_MAX);
    if (old & TG__W_ANY) {
        /* after our slot RMW, which a wait_any sleeper's flag CAS precedes:
           its futex wait on the older any_seq returns */
        (void)TG__FETCH_ADD(&s->any_seq, 1u);
        tg__futex_wake(&s->any_seq, INT_MAX);
    }
}

static void tg__dedupe_finish(tg_scheduler *s, tg__worker *w, uint32_t index, tg__slot *sl, tg_state final);
static void tg__notify_reap(tg_scheduler *s);
static void tg__deps_ended(tg_scheduler *s, tg__worker *w, uint32_t index, uint32_t pair, tg_state final);
static inline tg_group *tg__group_of(tg_scheduler *s, uint32_t index);
static void tg__group_ended(tg_group *g, tg_state final, uint32_t word);
static void tg__group_leave(tg_group *g);
static int tg__group_stopped(const tg_group *m);

/* Has the runner of an EXECUTING token stamped this run's start? It
   stamps after its move, never below the run's admission (tg__run_call):
   the first admission, or for a retry the requeue time, where an earlier
   run's start is below (or, stamped the same nanosecond, equal). */
static inline int tg__start_stamped(tg__slot *sl)
{
    int64_t started = TG__SLOT_LOAD(&sl->started_ns);
    if (!started) return 0;
    return !TG__LOAD_RELAXED(&sl->retries) || started >= TG__LOAD_RELAXED(&sl->ended_ns);
}

/* Ends a token the caller has claimed: stamp (ended_ns, 0: now), holds
   (unless its function still runs; `runner`: the caller is that function's
   worker, whose move ends the run too), dedupe followers, counts, the
   terminal move, wake-ups, the completion list, and recycling. release_hold:
   the caller's hold (a queue, a list, its run) goes with the move. */
static void tg__token_settle(tg_scheduler *s, tg__worker *w, uint32_t index, tg__slot *sl,
                             tg_state final, int64_t ended_ns, int release_hold, int runner)
{
    uint32_t opi = TG__LOAD_RELAXED(&sl->opi);
    uint32_t sticky = TG__LOAD_RELAXED(&sl->link);   /* before the completion list reuses it */
    /* no end before a stamp it follows (stamps of other threads may run
       up to 2 us apart): a start not stamped yet is waited for (a few
       stores of its runner, after its move; it may be preempted there) */
    if (!runner && TG__STATE(TG__LOAD_ACQUIRE(&sl->gw)) == (uint32_t)TG_EXECUTING)
        while (!tg__start_stamped(sl)) sched_yield();
    int64_t ended = ended_ns ? ended_ns : tg__stamp_ns();
    /* relaxed: the stamps were written by this token's earlier movers,
       whose moves our claim's acquire CAS followed; the latest reached
       (they are ordered) */
    int64_t floor_ns = TG__SLOT_LOAD(&sl->started_ns);
    if (!floor_ns) floor_ns = TG__LOAD_RELAXED(&sl->admitted_ns);
    if (!floor_ns) floor_ns = TG__LOAD_RELAXED(&sl->waiting_ns);
    if (ended < floor_ns) ended = floor_ns;
    TG__SLOT_STORE(&sl->ended_ns, ended);
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    /* read while the slot is surely this token's */
    tg_group *group = (TG__WORD(old) & TG__W_GROUP) ? tg__group_of(s, index) : NULL;
    /* only the worker clears RUNNING, and never sets it again on a claimed
       token: once read clear it stays clear */
    int holds = runner || !(TG__WORD(old) & TG__W_RUNNING);
    if (holds) tg__token_holds_return(s, sl, TG__WORD(old), sticky);
    if (TG__WORD(old) & TG__W_DEDUPE) tg__dedupe_finish(s, w, index, sl, final);
    /* a released token that nothing else holds is free once the move below
       is made (RELEASED is never cleared, nobody else sets HELD): its slot
       is counted given back before its end is, so whoever sees the end
       (tg_wait_idle) sees it in slots_in_use too */
    int freed_early = (TG__WORD(old) & TG__W_RELEASED) && (release_hold || !(TG__WORD(old) & TG__W_HELD));
    tg__ending_begin(s, w);
    if (freed_early) TG__COUNT(s, w, freed);
    tg__end_count(s, w, opi, final);
    uint64_t desired;
    for (;;) {
        uint32_t word = TG__WORD(old);
        uint32_t keep = word & ~(TG__STATE_MASK | TG__WAKE_FLAGS | TG__W_ENDING | TG__W_DEPS | TG__W_GROUP);
        if (release_hold) keep &= ~TG__W_HELD;
        if (runner) keep &= ~TG__W_RUNNING;
        if ((word & TG__W_NOTIFY_OP) && !(word & TG__W_RELEASED)) keep |= TG__W_NOTIFY;
        desired = (old & ~(uint64_t)UINT32_MAX) | keep | (uint32_t)final;
        /* acq_rel: release publishes the result, failure code, stamps and
           counts written before; pairs with the acquire loads of waiters */
        if (TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) break;
        if (!holds && !(TG__WORD(old) & TG__W_RUNNING)) {
            /* the function returned meanwhile and left the holds to us */
            tg__token_holds_return(s, sl, TG__WORD(old), sticky);
            holds = 1;
        }
    }
    uint32_t before = TG__WORD(old), after = TG__WORD(desired);
    tg__token_wake(s, sl, before);
    /* its successors counted inside the end's window: a tg_wait_idle that
       saw this end sees them admitted, or ended with their slots given
       back */
    if (before & TG__W_SUCC) tg__deps_ended(s, w, index, TG__PAIR(TG__GEN(desired)), final);
    /* a group's wait that sees its members gone sees this end */
    if (group) tg__group_ended(group, final, before);
    tg__ending_done(s, w);
    if ((after & TG__W_NOTIFY) && !(before & TG__W_NOTIFY)) {
        tg__notify_push(s, index);
        /* full fence: our push before our look at RELEASED; a tg_release
           between the terminal move and the push found nothing to take
           out of the list, so the slot is taken out here */
        TG__FENCE_SEQ_CST();
        if (TG__WORD(TG__LOAD_ACQUIRE(&sl->gw)) & TG__W_RELEASED) tg__notify_reap(s);
    }
    if (!w) tg__idle_signal(s);
    if (TG__FREEABLE(after)) {
        if (freed_early) tg__slot_free(s, index);
        else tg__slot_recycle(s, index);
    }
}

/* Drops the caller's hold (a queue, a list, a run whose token another
   thread ended) from a token it will not end; the holds of a run whose
   ender left them (RUNNING) go back here. */
static void tg__token_drop(tg_scheduler *s, uint32_t index, tg__slot *sl, int runner, uint32_t sticky)
{
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw), desired;
    do {
        desired = old & ~(uint64_t)(TG__W_HELD | (runner ? TG__W_RUNNING : 0u));
        /* slot-word RMW (conventions above) */
    } while (!TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    if (TG__SETTLED(TG__WORD(desired)) && !TG__SETTLED(TG__WORD(old)))
        tg__token_holds_return(s, sl, TG__WORD(old), sticky);
    if (TG__FREEABLE(TG__WORD(desired)) && !TG__FREEABLE(TG__WORD(old))) tg__slot_recycle(s, index);
}

/* Is the popped queue entry of pair `pair` void (1), or does it name the
   token of slot sl to run (0)? *old: the slot's word, as last read. Void:
   stale (the slot holds another token, or none: the token was taken by a
   wait and is gone), or the token was taken by a wait (W_TAKEN), which
   this entry then pays for: the flag goes. Pair 0 (a token from a list,
   not a queue) is never stale. */
static int tg__entry_void_slow(tg__slot *sl, uint32_t pair, uint64_t *old)
{
    for (;;) {
        uint32_t word = TG__WORD(*old);
        if (pair && (TG__PAIR(TG__GEN(*old)) != pair || TG__FREEABLE(word))) return 1;
        if (!(word & TG__W_TAKEN)) return 0;
        /* slot-word RMW (conventions above); the generation in the
           compare keeps it off the slot's next token */
        if (TG__CAS(&sl->gw, old, *old & ~(uint64_t)TG__W_TAKEN, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            return 1;
    }
}

/* The common case inline: a queued token's entry (the queue holds its
   slot, so it is not free), not taken. */
static inline int tg__entry_void(tg__slot *sl, uint32_t pair, uint64_t *old)
{
    if (TG__LIKELY((TG__WORD(*old) & (TG__W_TAKEN | TG__W_HELD)) == TG__W_HELD &&
                   (TG__PAIR(TG__GEN(*old)) == pair || !pair)))
        return 0;
    return tg__entry_void_slow(sl, pair, old);
}

/* Ends a live token in state `final` if it is in a state of `from` and
   nobody else is ending it. gen: as in tg__token_claim. With release_hold,
   the caller's hold is dropped whatever happens. 1 if this call ended it,
   0 if not, TG_ESTALE. */
static int tg__token_end(tg_scheduler *s, tg__worker *w, uint32_t index, tg__slot *sl, uint32_t gen,
                         uint32_t from, tg_state final, int release_hold)
{
    uint64_t seen;
    int claim = tg__token_claim(sl, gen, from, &seen);
    if (claim == TG__CLAIM_WON) {
        tg__token_settle(s, w, index, sl, final, 0, release_hold, 0);
        return 1;
    }
    if (release_hold && claim == TG__CLAIM_LOST) tg__token_drop(s, index, sl, 0, 0);
    return claim == TG__CLAIM_LOST ? 0 : claim;
}

/* The deadline of a token whose word has W_DEADLINE (ns, CLOCK_MONOTONIC;
   a timeout too large to add saturates: never). */
static inline int64_t tg__token_deadline(tg__slot *sl)
{
    int64_t created = TG__SLOT_LOAD(&sl->created_ns);
    int64_t timeout = sl->op->timeout_ns;
    return timeout > INT64_MAX - created ? INT64_MAX : created + timeout;
}

/* A live token past its deadline ends TIMEOUT here, whoever looks first (a
   waiter, tg_poll, tg_info, the worker taking it); its holder keeps the
   slot (a queue drops it, a running function's late result is discarded).
   gen: the generation the caller read (its handle's). Returns the token's
   state afterwards. */
static uint64_t tg__token_expire(tg_scheduler *s, uint32_t index, tg__slot *sl, uint32_t gen, uint64_t gw)
{
    uint32_t word = TG__WORD(gw);
    if (!(word & TG__W_DEADLINE) || TG__IS_TERMINAL(word) || (word & TG__W_ENDING)) return gw;
    if (tg__now_ns() < tg__token_deadline(sl)) return gw;
    (void)tg__token_end(s, tg__current_worker(s), index, sl, gen, TG__FROM_VISIBLE, TG_TIMEOUT, 0);
    return TG__LOAD_ACQUIRE(&sl->gw);
}

/* ------------------------------------------------------------------------ */
/* Dedupe: equal live submissions of a TG_OP_DEDUPE op share one run        */
/* ------------------------------------------------------------------------ */
/* >>dedupe */

/* A TG_OP_DEDUPE entry: the live token that runs for (op, argument bytes)
   and the followers that share its outcome (FIFO by held_link). Guarded by
   the stripe lock of its index. */
typedef struct tg__dedupe {
    uint64_t hash;
    uint32_t leader;             /* index + 1; 0: free */
    uint32_t head, tail;         /* followers, index + 1 */
} tg__dedupe;

#define TG__DEDUPE_STRIPES 64

static int tg__dedupe_init(tg_scheduler *s)
{
    s->dedupe = (tg__dedupe *)tg__alloc_zero(s, sizeof(tg__dedupe) * s->cfg.dedupe_capacity);
    s->dedupe_locks = (pthread_mutex_t *)tg__alloc_zero(s, sizeof(pthread_mutex_t) * TG__DEDUPE_STRIPES);
    if (!s->dedupe || !s->dedupe_locks) return TG_ENOMEM;
    for (int i = 0; i < TG__DEDUPE_STRIPES; i++) pthread_mutex_init(&s->dedupe_locks[i], NULL);
    return TG_OK;
}

static void tg__dedupe_free(tg_scheduler *s)
{
    if (s->dedupe_locks && s->dedupe) {
        for (int i = 0; i < TG__DEDUPE_STRIPES; i++) pthread_mutex_destroy(&s->dedupe_locks[i]);
    }
    tg__free(s, s->dedupe_locks, sizeof(pthread_mutex_t) * TG__DEDUPE_STRIPES);
    tg__free(s, s->dedupe, sizeof(tg__dedupe) * s->cfg.dedupe_capacity);
}

static inline uint64_t tg__dedupe_hash(const tg_op *op, const void *args, size_t size)
{
    return tg__hash_bytes(tg__mix64((uint64_t)(uintptr_t)op), args ? args : "", size);
}

static inline pthread_mutex_t *tg__dedupe_lock(tg_scheduler *s, uint64_t hash)
{
    return &s->dedupe_locks[(hash & s->dedupe_mask) % TG__DEDUPE_STRIPES];
}

/* Under the entry's lock: the live leader of (op, args) in e, or NULL. */
static tg__slot *tg__dedupe_leader(tg_scheduler *s, tg__dedupe *e, uint64_t hash, const tg_op *op,
                                   const void *args, size_t size)
{
    /* plain reads of the leader's slot: its fields were written before its
       submitter unlocked this entry's lock, and the slot is not recycled
       before tg__dedupe_finish (which takes the lock) is done: a leader
       ends after finishing its followers */
    if (!e->leader || e->hash != hash) return NULL;
    tg__slot *l = tg__slot_at(s, e->leader - 1);
    if (TG__IS_TERMINAL(TG__WORD(TG__LOAD_ACQUIRE(&l->gw)))) return NULL;   /* ending: run alone */
    if (tg__slot_op(l) != op || l->args_size != size) return NULL;
    const void *bytes = size > TG__INLINE_ARGS ? l->args.heap.ptr : (const void *)l->args.bytes;
    return size == 0 || memcmp(bytes, args, size) == 0 ? l : NULL;
}

static int tg__token_claim(tg__slot *sl, uint32_t gen, uint32_t from, uint64_t *seen);
static void tg__token_settle(tg_scheduler *s, tg__worker *w, uint32_t index, tg__slot *sl,
                             tg_state final, int64_t ended_ns, int release_hold, int runner);
static void tg__token_drop(tg_scheduler *s, uint32_t index, tg__slot *sl, int runner, uint32_t sticky);

/* A dedupe leader is ending (claimed, or refused) in state `final`: its
   followers end the same way, with its result or failure code. The leader
   is not yet terminal, so its slot and arguments stay meanwhile. */
static void tg__dedupe_finish(tg_scheduler *s, tg__worker *w, uint32_t index, tg__slot *sl, tg_state final)
{
    const tg_op *op = tg__slot_op(sl);
    size_t size = sl->args_size;
    const void *args = size > TG__INLINE_ARGS ? sl->args.heap.ptr : (const void *)sl->args.bytes;
    uint64_t hash = tg__dedupe_hash(op, args, size);
    tg__dedupe *e = &s->dedupe[hash & s->dedupe_mask];
    pthread_mutex_t *lock = tg__dedupe_lock(s, hash);
    pthread_mutex_lock(lock);
    uint32_t next = 0;
    if (e->leader == index + 1) {
        next = e->head;
        e->leader = e->head = e->tail = 0;
    }
    pthread_mutex_unlock(lock);
    uint64_t result = TG__LOAD_RELAXED(&sl->result.u);
    int32_t failure = TG__SLOT_LOAD(&sl->failure_code);
    int64_t ended = TG__LOAD_RELAXED(&sl->ended_ns);
    while (next) {
        uint32_t f = next - 1;
        tg__slot *fs = tg__slot_at(s, f);
        next = tg__held_next(s, f, TG__LIST_FOLLOWERS);
        /* the list held the follower: a follower killed or expired meanwhile
           only loses that hold */
        uint64_t seen;
        if (tg__token_claim(fs, 0, TG__FROM_LIVE, &seen) == TG__CLAIM_WON) {
            TG__STORE_RELAXED(&fs->result.u, result);
            TG__SLOT_STORE(&fs->failure_code, failure);
            tg__token_settle(s, w, f, fs, final, ended, 1, 0);
        } else {
            tg__token_drop(s, f, fs, 0, 0);
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Submitting                                                               */
/* ------------------------------------------------------------------------ */
/* >>submit */

/* A submission on its way: what the steps below share. */
typedef struct tg__submission {
    tg_scheduler *s;
    tg__worker *w;           /* the submitting worker, or NULL outside */
    const tg_op *op;
    const void *args;
    size_t size;
    int64_t deadline;        /* for every wait of a blocking submission */
    uint32_t opi, index, gen;
    uint32_t word;           /* the word as this thread last moved it */
    tg__slot *sl;
    int pin;                 /* core of a pinned token, -1: free routing */
    tg_token *out;           /* the caller's handle, NULL: detached */
    struct tg_group *group;  /* the group it joins, or NULL */
} tg__submission;

static int tg__group_inherit(tg__submission *sub);
static void tg__group_admit(tg__submission *sub);

/* Step 1: the op and the arguments are well formed; the scheduler takes
   submissions from this thread. */
TG__HOT_INLINE int tg__submit_validate(tg_scheduler *s, const tg_op *op, const void *args, size_t args_size)
{
    if (!s || !op || !op->name || !op->fn) return TG_EINVAL;
    if ((unsigned)op->weight > (unsigned)TG_HEAVY) return TG_EINVAL;
    if (!args && args_size) return TG_EINVAL;
    if (args_size > s->cfg.max_args_size) return TG_E2BIG;
    if (op->external_calls) {
        int rc = tg__calls_check(op);
        if (rc != TG_OK) return rc;
    }
    if (op->max_retries < 0 || op->max_retries > 65535 || op->timeout_ns < 0 ||
        (unsigned)op->io_tier > (unsigned)TG_IO_INSANE)
        return TG_EINVAL;
    return TG_OK;
}

/* Step 2: a place under the op's max_live, a slot, the argument bytes. */
TG__HOT_INLINE int tg__submit_take(tg__submission *sub)
{
    tg_scheduler *s = sub->s;
    const tg_op *op = sub->op;
    int rc;
    if (op->max_live) {
        rc = tg__op_admit(s, sub->opi, op->max_live, sub->deadline);
        if (rc != TG_OK) return rc;
        sub->w = tg__current_worker(s);   /* a wait above may have handed the core on */
    }
    rc = tg__slot_try_take(s, sub->w, &sub->index);
    if (TG__UNLIKELY(rc == TG_EBUSY)) {
        rc = tg__slot_acquire(s, &sub->index, sub->deadline);
        sub->w = tg__current_worker(s);   /* as above */
    }
    if (rc == TG_OK) {
        sub->sl = tg__slot_at(s, sub->index);
        rc = tg__args_store(s, sub->sl, sub->args, sub->size);
        if (rc != TG_OK) tg__slot_free(s, sub->index);     /* never entered: not counted */
    }
    if (rc != TG_OK && op->max_live) tg__op_unadmit(s, sub->opi);
    return rc;
}

/* Step 3: where it must run (section 12's rules): sticky pin, domain. */
static void tg__submit_place(tg__submission *sub)
{
    tg_scheduler *s = sub->s;
    const tg_op *op = sub->op;
    sub->pin = -1;
    if (op->sticky_anchor || op->external_calls ||
        (tg__tls_slot && TG__LOAD_RELAXED(&tg__tls_slot->domain) && tg__task_thread(s))) {
        /* a task's thread without a core submits near the core it served */
        tg__thread *t = tg__task_thread(s);
        tg__worker *near = sub->w ? sub->w : t ? t->home : NULL;
        sub->pin = tg__place(s, near, sub->sl, tg__make_token(s, sub->index, sub->gen), op,
                             sub->args, sub->size, &sub->word);
    }
}

/* Step 4: fills the token's fields and publishes it in state `state`. */
static void tg__submit_publish(tg__submission *sub, tg_state state, uint32_t dedupe_flag)
{
    tg_scheduler *s = sub->s;
    tg__slot *sl = sub->sl;
    int64_t now = tg__stamp_ns();
    if (TG__UNLIKELY(sub->group != NULL)) tg__group_admit(sub);
    sub->word = (sub->word & ~TG__STATE_MASK) | (uint32_t)state | dedupe_flag;
    TG__STORE_RELAXED(&sl->op, sub->op);
    TG__STORE_RELAXED(&sl->opi, sub->opi);
    /* seq_cst: pairs with the seq_cst epoch bump in tg__op_drain_kill; a
       drain that began after this read sees this token as older */
    TG__STORE_RELAXED(&sl->epoch, TG__LOAD_SEQ_CST(&s->ops[sub->opi].epoch));
    TG__STORE_RELAXED(&sl->result.u, (uint64_t)0);
    TG__STORE_RELAXED(&sl->failure_code, 0);
    TG__STORE_RELAXED(&sl->retries, (uint16_t)0);
    TG__STORE_RELAXED(&sl->core, (int16_t)-1);
    TG__STORE_RELAXED(&sl->held_link, 0u);   /* blocked time, until it is on a list */
    TG__STORE_RELAXED(&sl->created_ns, now);
    /* a token that finds room at once passes WAITING and ADMITTED at its
       creation; the slow path and a dedupe submission stamp them again */
    TG__STORE_RELAXED(&sl->waiting_ns, now);
    TG__STORE_RELAXED(&sl->admitted_ns, state == TG_WAITING ? (int64_t)0 : now);
    TG__STORE_RELAXED(&sl->started_ns, (int64_t)0);
    TG__STORE_RELAXED(&sl->ended_ns, (int64_t)0);
    /* counted before anyone can end it, so no end is counted before its
       entry (outside threads: seq_cst, see the shutdown check) */
    TG__COUNT(s, sub->w, entered);
    /* release: the fields above are visible to anyone who reads this
       generation; pairs with the acquire loads in tg__slot_lookup/tg_info */
    TG__STORE_RELEASE(&sl->gw, ((uint64_t)sub->gen << 32) | sub->word);
}

/* Moves the token from state `from` (as this thread last saw it) to `to`;
   flags set meanwhile by waiters are kept. 0 if another thread claimed or
   ended it first (a shutdown's sweep, a kill). */
static int tg__submit_move(tg__submission *sub, tg_state from, tg_state to)
{
    tg__slot *sl = sub->sl;
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    for (;;) {
        uint32_t word = TG__WORD(old);
        if ((word & TG__STATE_MASK) != (uint32_t)from || (word & TG__W_ENDING)) return 0;
        uint64_t desired = (old & ~(uint64_t)TG__STATE_MASK) | (uint32_t)to;
        /* slot-word RMW (conventions above) */
        if (TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            sub->word = TG__WORD(desired);
            return 1;
        }
    }
}

/* The move of a queued token (WAITING <-> ADMITTED) by its submitter,
   with the new state's stamp (to WAITING: admitted_ns goes back to 0, not
   reached until it finds room). Others may end a queued token, so the
   stamps are written under W_STAMPING, which holds every ender off
   (tg__token_claim waits while it is set): a token is never stamped after
   its end. 0 if another thread claimed or ended it first. */
static int tg__submit_stamp_move(tg__submission *sub, tg_state from, tg_state to)
{
    tg__slot *sl = sub->sl;
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    do {
        uint32_t word = TG__WORD(old);
        if ((word & TG__STATE_MASK) != (uint32_t)from || (word & TG__W_ENDING)) return 0;
        /* slot-word RMW (conventions above) */
    } while (!TG__CAS(&sl->gw, &old, old | TG__W_STAMPING, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    if (to == TG_WAITING) {
        TG__SLOT_STORE(&sl->admitted_ns, (int64_t)0);
        TG__SLOT_STORE(&sl->waiting_ns, tg__stamp_ns());
    } else {
        TG__SLOT_STORE(&sl->admitted_ns, tg__stamp_ns());
    }
    old |= TG__W_STAMPING;
    for (;;) {   /* meanwhile only waiters add their flags */
        uint64_t desired = (old & ~(uint64_t)(TG__STATE_MASK | TG__W_STAMPING)) | (uint32_t)to;
        if (TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            sub->word = TG__WORD(desired);
            return 1;
        }
    }
}

/* Step 3 for a TG_OP_DEDUPE op, once published (CREATED: nobody else ends
   it): join a live token of equal (op, args) as a follower (1: done, its
   leader's end ends it), or lead the entry, or run alone when the entry is
   taken (0: go on). No lock is held across the placement that follows. */
static int tg__submit_dedupe(tg__submission *sub)
{
    tg_scheduler *s = sub->s;
    uint64_t hash = tg__dedupe_hash(sub->op, sub->args, sub->size);
    tg__dedupe *e = &s->dedupe[hash & s->dedupe_mask];
    pthread_mutex_t *lock = tg__dedupe_lock(s, hash);
    pthread_mutex_lock(lock);
    if (tg__dedupe_leader(s, e, hash, sub->op, sub->args, sub->size)) {
        /* the leader's list holds the follower (W_HELD); it is never
           queued, and W_LISTED keeps every wait from taking it. Slot-word
           RMW: a waiter may have flagged the word meanwhile */
        (void)TG__FETCH_OR(&sub->sl->gw, (uint64_t)TG__W_LISTED);
        tg__held_append(s, &e->head, &e->tail, sub->index, TG__LIST_FOLLOWERS);
        TG__STORE_RELAXED(&sub->sl->admitted_ns, tg__stamp_ns());
        (void)tg__submit_move(sub, TG_CREATED, TG_ADMITTED);
        pthread_mutex_unlock(lock);
        /* a statistic only: relaxed */
        (void)TG__FETCH_ADD_RELAXED(&s->dedupe_joined, 1);
        return 1;
    }
    if (!e->leader) {
        e->hash = hash;
        e->leader = sub->index + 1;
        e->head = e->tail = 0;
        /* slot-word RMW: a waiter may have flagged the word meanwhile */
        sub->word = TG__WORD(TG__FETCH_OR(&sub->sl->gw, (uint64_t)TG__W_DEDUPE)) | TG__W_DEDUPE;
    } else {
        /* a statistic only: relaxed */
        (void)TG__FETCH_ADD_RELAXED(&s->dedupe_overflow, 1);
    }
    pthread_mutex_unlock(lock);
    return 0;
}

/* Waits until another thread's end of the token (claimed first) is done. */
static void tg__submit_wait_ended(tg__slot *sl)
{
    for (;;) {
        uint32_t word = TG__WORD(TG__LOAD_ACQUIRE(&sl->gw));
        if (TG__IS_TERMINAL(word)) return;
        /* the ender is between its claim and its terminal move: a few
           stores, unless it was preempted there */
        sched_yield();
    }
}

/* The submission failed after the token was published: it ends KILLED,
   counted abandoned (not submitted), holds back, slot freed. If another
   thread claimed it first (a shutdown's sweep), that thread ended and
   counted it KILLED: the submission then stands (TG_OK, counted
   submitted) and the caller's handle shows the kill. */
static int tg__submit_abandon(tg__submission *sub, int rc)
{
    tg_scheduler *s = sub->s;
    tg__slot *sl = sub->sl;
    uint64_t seen;
    if (tg__token_claim(sl, 0, TG__FROM_LIVE, &seen) == TG__CLAIM_WON) {
        tg__token_holds_return(s, sl, TG__WORD(seen), TG__LOAD_RELAXED(&sl->link));
        if (TG__WORD(seen) & TG__W_DEDUPE) tg__dedupe_finish(s, sub->w, sub->index, sl, TG_KILLED);
        if (TG__WORD(seen) & TG__W_GROUP) tg__group_leave(sub->group);   /* never submitted */
        tg__ending_begin(s, sub->w);
        TG__COUNT(s, sub->w, abandoned);
    } else {
        tg__submit_wait_ended(sl);
        TG__COUNT(s, sub->w, submitted);
        if (sub->out) *sub->out = tg__make_token(s, sub->index, sub->gen);
        tg__token_drop(s, sub->index, sl, 0, 0);
        return TG_OK;
    }
    /* the handle was never given out: make it stale and let the slot go */
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw), desired;
    do {
        desired = ((uint64_t)(sub->gen + 1) << 32) | (uint32_t)TG_KILLED | TG__W_RELEASED;
        /* slot-word RMW: wakes whoever flagged it (a forged handle's wait) */
    } while (!TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    tg__ending_done(s, sub->w);
    tg__idle_signal(s);
    tg__token_wake(s, sl, TG__WORD(old));
    tg__slot_recycle(s, sub->index);
    return rc;
}

/* The submission stands: counted, the handle given out. */
static int tg__submit_done(tg__submission *sub)
{
    TG__COUNT(sub->s, sub->w, admitted);
    TG__COUNT(sub->s, sub->w, submitted);
    if (sub->out) *sub->out = tg__make_token(sub->s, sub->index, sub->gen);
    return TG_OK;
}

/* A move of the submitter failed: a task's wait may have taken the token
   while it was ADMITTED but in no queue (W_TAKEN: that wait runs it). The
   submission then stands, and as no queue entry will be popped for it, the
   flag goes here. Else (killed, a shutdown's sweep) it is abandoned. */
static int tg__submit_moved(tg__submission *sub, int rc)
{
    uint64_t old = TG__LOAD_ACQUIRE(&sub->sl->gw);
    if (!(TG__WORD(old) & TG__W_TAKEN)) return tg__submit_abandon(sub, rc);
    (void)tg__entry_void(sub->sl, TG__PAIR(sub->gen), &old);   /* the entry it never had */
    return tg__submit_done(sub);
}

/* The slow path: every allowed queue is full. WAITING until there is room
   (TG_FULL_BLOCK) or the submission is refused. A task waits like an
   outside thread (its core handed to a spare, tg__task_wait_room). */
static int tg__submit_wait_room(tg__submission *sub)
{
    tg_scheduler *s = sub->s;
    tg__slot *sl = sub->sl;
    if (!tg__submit_stamp_move(sub, TG_ADMITTED, TG_WAITING)) return tg__submit_moved(sub, TG_ESHUTDOWN);
    for (;;) {
        int rc = TG_OK;
        if (s->cfg.full_policy == TG_FULL_REJECT) rc = TG_EBUSY;
        else if (!tg__accepting(s)) rc = TG_ESHUTDOWN;
        else if (tg__expired(sub->deadline)) rc = TG_ETIMEDOUT;
        if (rc != TG_OK) return tg__submit_abandon(sub, rc);
        tg__space_want want;
        want.s = s;
        want.lo = s->cfg.strict_routing ? tg__range_start(s, sub->op->weight) : 0;
        want.pin = sub->pin;
        tg__thread *t = tg__task_thread(s);
        if (t) rc = tg__task_wait_room(s, t, &s->space_event, tg__space_ready, &want, sub->deadline);
        else tg__event_wait(&s->space_event, tg__space_ready, &want, sub->deadline, 10000000);
        if (rc != TG_OK) return tg__submit_abandon(sub, rc);
        sub->w = tg__current_worker(s);   /* the wait may have handed the core on */
        if (!tg__submit_stamp_move(sub, TG_WAITING, TG_ADMITTED))
            return tg__submit_abandon(sub, TG_ESHUTDOWN);
        if (tg__route_push(s, sub->w, sl, sub->index, sub->pin)) return tg__submit_done(sub);
        if (!tg__submit_move(sub, TG_ADMITTED, TG_WAITING)) return tg__submit_moved(sub, TG_ESHUTDOWN);
    }
}

/* The checks of a submission that hold for a whole batch (steps 1 and
   the op's entry), filling *sub but for its arguments and handle. */
TG__HOT_INLINE int tg__submit_prepare(tg__submission *sub, tg_scheduler *s, const tg_op *op, const void *args,
                              size_t args_size, int64_t deadline)
{
    int rc = tg__submit_validate(s, op, args, args_size);
    if (rc != TG_OK) return rc;
    rc = tg__fork_check(s);
    if (rc != TG_OK) return rc;
    sub->s = s;
    sub->op = op;
    sub->size = args_size;
    sub->deadline = deadline;
    if (!tg__accepting(s)) return TG_ESHUTDOWN;
    rc = tg__op_lookup(s, op, &sub->opi);
    if (rc != TG_OK) return rc;
    /* acquire: pairs with the guard's release store */
    if (tg__guard_blocked(&s->ops[sub->opi].guard)) return TG_EBLOCKED;
    sub->group = NULL;
    /* inside a task, once groups exist: a member's submissions join its group */
    if (TG__UNLIKELY(tg__tls_slot != NULL) && TG__LOAD_RELAXED(&s->group_of)) return tg__group_inherit(sub);
    return TG_OK;
}

/* One token of a prepared submission (sub->args and sub->out set): steps
   2 to 5. */
TG__HOT_INLINE int tg__submit_one(tg__submission *sub)
{
    tg_scheduler *s = sub->s;
    const tg_op *op = sub->op;
    tg_token *out = sub->out;
    sub->w = tg__current_worker(s);
    sub->pin = -1;
    int rc = tg__submit_take(sub);
    if (rc != TG_OK) return rc;
    sub->gen = TG__GEN(TG__LOAD_RELAXED(&sub->sl->gw)) + 1;   /* even -> odd: valid */
    sub->word = TG__W_HELD | (out ? 0u : TG__W_RELEASED) |
                ((op->flags & TG_OP_NOTIFY) ? TG__W_NOTIFY_OP : 0u) |
                (op->max_live ? TG__W_LIMITED : 0u) | (op->timeout_ns > 0 ? TG__W_DEADLINE : 0u);
    if (op->flags & TG_OP_DEDUPE) {
        tg__submit_publish(sub, TG_CREATED, 0);
        if (tg__submit_dedupe(sub)) {
            TG__COUNT(s, sub->w, submitted);
            if (out) *out = tg__make_token(s, sub->index, sub->gen);
            return TG_OK;
        }
        /* pins are taken while it is CREATED, which only this thread ends */
        tg__submit_place(sub);
        uint32_t pins = sub->word & (TG__W_STICKY | TG__W_DOMAIN);
        if (pins) sub->word = TG__WORD(TG__FETCH_OR(&sub->sl->gw, (uint64_t)pins)) | pins;
        TG__STORE_RELAXED(&sub->sl->admitted_ns, tg__stamp_ns());
        if (!tg__submit_move(sub, TG_CREATED, TG_ADMITTED)) return tg__submit_abandon(sub, TG_ESHUTDOWN);
    } else {
        /* pins are taken before anyone can see the token */
        tg__submit_place(sub);
        tg__submit_publish(sub, TG_ADMITTED, 0);
    }
    if (!TG__LOAD_SEQ_CST(&s->accepting) && !tg__task_thread(s)) {
        /* shutdown began between our check and our count: the seq_cst
           count and this seq_cst load pair with tg_shutdown's store and
           fence, so either it waits for this token or we back out here */
        return tg__submit_abandon(sub, TG_ESHUTDOWN);
    }
    if (TG__LIKELY(tg__route_push(s, sub->w, sub->sl, sub->index, sub->pin))) {
        TG__COUNT(s, sub->w, admitted);
        TG__COUNT(s, sub->w, submitted);
        if (out) *out = tg__make_token(s, sub->index, sub->gen);
        return TG_OK;
    }
    return tg__submit_wait_room(sub);
}

static int tg__submit(tg_scheduler *s, const tg_op *op, const void *args,
                      size_t args_size, tg_token *out, int64_t deadline)
{
    if (out) *out = TG_TOKEN_NONE;
    tg__submission sub;
    int rc = tg__submit_prepare(&sub, s, op, args, args_size, deadline);
    if (rc != TG_OK) return rc;
    sub.args = args;
    sub.out = out;
    return tg__submit_one(&sub);
}

TG_API int tg_submit(tg_scheduler *s, const tg_op *op, const void *args,
                     size_t args_size, tg_token *out)
{
    return tg__submit(s, op, args, args_size, out, -1);
}

TG_API int tg_submit_batch(tg_scheduler *s, const tg_op *op, const void *args, size_t args_size,
                           size_t count, tg_token *out, size_t *submitted)
{
    if (submitted) *submitted = 0;
    if (out)
        for (size_t i = 0; i < count; i++) out[i] = TG_TOKEN_NONE;
    tg__submission sub;
    /* count 0: the scheduler and the op are checked, nothing else */
    int rc = tg__submit_prepare(&sub, s, op, count ? args : NULL, count ? args_size : 0, -1);
    if (rc == TG_OK && count && args_size && SIZE_MAX / args_size < count) rc = TG_EINVAL;
    for (size_t i = 0; rc == TG_OK && i < count; i++) {
        if (i && !tg__accepting(s)) {
            rc = TG_ESHUTDOWN;
            break;
        }
        sub.args = args ? (const unsigned char *)args + i * args_size : NULL;
        sub.out = out ? &out[i] : NULL;
        rc = tg__submit_one(&sub);
        if (rc == TG_OK && submitted) *submitted = i + 1;
    }
    return rc;
}

TG_API int tg_submit_timeout(tg_scheduler *s, const tg_op *op, const void *args,
                             size_t args_size, tg_token *out, int64_t timeout_ns)
{
    int64_t deadline = timeout_ns < 0 ? -1 : timeout_ns == 0 ? 0 : tg__deadline_after(timeout_ns);
    return tg__submit(s, op, args, args_size, out, deadline);
}

/* ------------------------------------------------------------------------ */
/* Dependencies: tokens admitted when the tokens they follow end            */
/* ------------------------------------------------------------------------ */
/* >>deps */

/* tg_submit_after: a successor waits, WAITING with W_DEPS and in no
   queue, until every token it follows (its dependencies) has ended. No
   thread waits for that: each dependency's end counts its successors
   down, and the one that reaches zero admits the successor into the
   queues (its own deque first: a continuation, where the inputs are still
   in cache), or ends it KILLED with W_DEPFAIL when a dependency did not
   complete and its op lacks TG_OP_ALWAYS_RUN.

   The successor's record (tg__deps) holds its slot, as a queue entry does,
   until the count reaches zero; it carries one edge per dependency. An
   edge waits in the dependency table, a hash of chains by the
   dependency's slot index under striped locks. A dependency's word has
   W_SUCC once an edge waits for it: set under the stripe lock after the
   edge is in, by a CAS that fails once the token is terminal (then the
   edge comes out again and the dependency counts as ended). Its ender's
   terminal move reads W_SUCC, then takes its edges out under the same
   lock: whichever of the two CASes comes first, every edge is counted
   exactly once. */

typedef struct tg__deps tg__deps;

static void tg__requeue(tg_scheduler *s, tg__worker *w, tg__slot *sl, uint32_t index);

typedef struct tg__edge {
    struct tg__edge *next;   /* in its chain */
    tg__deps *succ;          /* whose count it is part of */
    uint64_t dep_bits;       /* the dependency's handle, as given */
    uint32_t dep_index, dep_pair; /* its slot and generation pair (a release keeps the pair) */
} tg__edge;

struct tg__deps {
    uint32_t pending;        /* dependencies not ended, + 1 while linking */
    uint32_t index, gen;     /* the successor */
    uint32_t count;          /* edges (after_count) */
    uint64_t failed;         /* the first dependency that did not complete: its handle bits */
    tg__edge *edges;         /* count, just after this record */
};

#define TG__DEP_BUCKETS 65536u
#define TG__DEP_STRIPES 64u

typedef struct tg__deptab {
    tg__edge *chain[TG__DEP_BUCKETS];
    pthread_mutex_t lock[TG__DEP_STRIPES];
} tg__deptab;

static inline uint32_t tg__dep_bucket(uint32_t index) { return index & (TG__DEP_BUCKETS - 1u); }

static inline pthread_mutex_t *tg__dep_lock(tg__deptab *t, uint32_t index)
{
    return &t->lock[tg__dep_bucket(index) % TG__DEP_STRIPES];
}

/* The table, made on first use. acquire: pairs with the release store
   below (the zeroed chains and the locks before the pointer). */
static tg__deptab *tg__deptab_get(tg_scheduler *s)
{
    tg__deptab *t = TG__LOAD_ACQUIRE(&s->deptab);
    if (TG__LIKELY(t != NULL)) return t;
    pthread_mutex_lock(&s->deptab_lock);
    t = TG__LOAD_RELAXED(&s->deptab);
    if (!t) {
        t = (tg__deptab *)tg__alloc_zero(s, sizeof(tg__deptab));
        if (t) {
            for (unsigned i = 0; i < TG__DEP_STRIPES; i++) pthread_mutex_init(&t->lock[i], NULL);
            TG__STORE_RELEASE(&s->deptab, t);
        }
    }
    pthread_mutex_unlock(&s->deptab_lock);
    return t;
}

static size_t tg__deps_bytes(size_t count) { return sizeof(tg__deps) + count * sizeof(tg__edge); }

static void tg__deps_free(tg_scheduler *s, tg__deps *d)
{
    tg__free(s, d, tg__deps_bytes(d->count));
}

/* At tg_destroy every token has ended, so no edge is left; a record
   whose count never reached zero would be freed here all the same. */
static void tg__deptab_free(tg_scheduler *s)
{
    tg__deptab *t = s->deptab;
    if (t) {
        for (unsigned b = 0; b < TG__DEP_BUCKETS; b++) {
            for (tg__edge *e = t->chain[b], *next; e; e = next) {
                next = e->next;
                if (TG__FETCH_SUB(&e->succ->pending, 1u) == 1u) tg__deps_free(s, e->succ);
            }
        }
        for (unsigned i = 0; i < TG__DEP_STRIPES; i++) pthread_mutex_destroy(&t->lock[i]);
        tg__free(s, t, sizeof(tg__deptab));
    }
    pthread_mutex_destroy(&s->deptab_lock);
}

/* The successor's record reached zero: admit it, or end it KILLED for a
   dependency that did not complete; either way the record's hold on the
   slot passes on (to the queue entry, or to the end). A successor that
   ended meanwhile (killed, expired, a shutdown's sweep) only loses that
   hold. */
static void tg__deps_release(tg_scheduler *s, tg__worker *w, tg__deps *d)
{
    uint32_t index = d->index, gen = d->gen;
    uint64_t failed = TG__LOAD_RELAXED(&d->failed);
    tg__deps_free(s, d);
    tg__slot *sl = tg__slot_at(s, index);
    if (failed && !(tg__slot_op(sl)->flags & TG_OP_ALWAYS_RUN)) {
        uint64_t seen;
        /* gen 0: the record holds the slot, whose handle may be released */
        if (tg__token_claim(sl, 0, TG__FROM(TG_WAITING), &seen) == TG__CLAIM_WON) {
            TG__STORE_RELAXED(&sl->result.u, failed);
            /* slot-word RMW: the end is ours (W_ENDING); settle keeps it */
            (void)TG__FETCH_OR(&sl->gw, (uint64_t)TG__W_DEPFAIL);
            tg__token_settle(s, w, index, sl, TG_KILLED, 0, 1, 0);
        } else {
            tg__token_drop(s, index, sl, 0, 0);
        }
        return;
    }
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    for (;;) {
        uint32_t word = TG__WORD(old);
        if (TG__PAIR(TG__GEN(old)) != TG__PAIR(gen) || (word & TG__STATE_MASK) != (uint32_t)TG_WAITING ||
            (word & TG__W_ENDING)) {
            tg__token_drop(s, index, sl, 0, 0);
            return;
        }
        TG__SLOT_STORE(&sl->admitted_ns, tg__stamp_ns());
        uint64_t desired = (old & ~(uint64_t)(TG__STATE_MASK | TG__W_DEPS)) | (uint32_t)TG_ADMITTED;
        /* slot-word RMW (conventions above); release: the stamp first */
        if (TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) break;
    }
    TG__COUNT(s, w, admitted);
    int pin = (TG__WORD(old) & TG__W_STICKY) || TG__LOAD_RELAXED(&sl->domain) ? TG__SLOT_LOAD(&sl->core) : -1;
    if (tg__route_push(s, w, sl, index, pin)) {
        if (TG__WORD(TG__LOAD_ACQUIRE(&sl->gw)) & TG__W_WAITER) tg__futex_wake(tg__slot_futex(sl), INT_MAX);
    } else {
        tg__requeue(s, w, sl, index);   /* waits for room; wakes waiters */
    }
}

/* One dependency of record d ended in state `final` (dep_bits: its
   handle). */
static void tg__deps_count(tg_scheduler *s, tg__worker *w, tg__deps *d, tg_state final, uint64_t dep_bits)
{
    if (final != TG_COMPLETED) {
        uint64_t none = 0;
        (void)TG__CAS(&d->failed, &none, dep_bits, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
    /* acq_rel: every count's failure record before the last one's release */
    if (TG__FETCH_SUB(&d->pending, 1u) == 1u) tg__deps_release(s, w, d);
}

/* The ender of token (index, generation pair), whose word had W_SUCC: its edges out
   of the table, each counted. */
static void tg__deps_ended(tg_scheduler *s, tg__worker *w, uint32_t index, uint32_t pair, tg_state final)
{
    tg__deptab *t = TG__LOAD_ACQUIRE(&s->deptab);
    tg__edge *mine = NULL;
    pthread_mutex_lock(tg__dep_lock(t, index));
    for (tg__edge **at = &t->chain[tg__dep_bucket(index)]; *at;) {
        tg__edge *e = *at;
        if (e->dep_index == index && e->dep_pair == pair) {
            *at = e->next;
            e->next = mine;
            mine = e;
        } else {
            at = &e->next;
        }
    }
    pthread_mutex_unlock(tg__dep_lock(t, index));
    while (mine) {
        tg__edge *e = mine;
        mine = e->next;   /* read before the count: the last one frees the record */
        tg__deps_count(s, w, e->succ, final, e->dep_bits);
    }
}

/* Links edge e to its dependency, or, if that has ended (or its handle
   went stale meanwhile: released by another thread, its outcome lost),
   counts it at once. */
static void tg__deps_link(tg_scheduler *s, tg__worker *w, tg__deptab *t, tg__edge *e)
{
    tg__slot *dsl = tg__slot_at(s, e->dep_index);
    tg_state ended = TG_CREATED;   /* none */
    pthread_mutex_t *lock = tg__dep_lock(t, e->dep_index);
    pthread_mutex_lock(lock);
    uint64_t old = TG__LOAD_ACQUIRE(&dsl->gw);
    if (TG__PAIR(TG__GEN(old)) != e->dep_pair) ended = TG_KILLED;
    else if (TG__IS_TERMINAL(TG__WORD(old))) ended = (tg_state)TG__STATE(old);
    if (ended == TG_CREATED) {
        tg__edge **chain = &t->chain[tg__dep_bucket(e->dep_index)];
        e->next = *chain;
        *chain = e;
        /* slot-word RMW with the generation: fails once it is terminal */
        while (!(TG__WORD(old) & TG__W_SUCC) &&
               !TG__CAS(&dsl->gw, &old, old | TG__W_SUCC, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            if (TG__PAIR(TG__GEN(old)) != e->dep_pair || TG__IS_TERMINAL(TG__WORD(old))) {
                ended = TG__PAIR(TG__GEN(old)) != e->dep_pair ? TG_KILLED : (tg_state)TG__STATE(old);
                *chain = e->next;   /* still first: the lock is ours */
                break;
            }
        }
    }
    pthread_mutex_unlock(lock);
    if (ended != TG_CREATED) tg__deps_count(s, w, e->succ, ended, e->dep_bits);
}

/* The record for a successor of n dependencies, their handles checked:
   TG_EINVAL, TG_ESTALE (the caller's error), TG_ENOMEM. */
static int tg__deps_make(tg_scheduler *s, const tg_token *after, size_t n, tg__deps **out)
{
    *out = NULL;
    if (n > UINT32_MAX - 1u) return TG_EINVAL;
    for (size_t i = 0; i < n; i++) {
        uint32_t index;
        tg__slot *sl;
        int rc = tg__slot_lookup(s, after[i], &index, &sl, NULL);
        if (rc != TG_OK) return rc;
    }
    if (!tg__deptab_get(s)) return TG_ENOMEM;
    tg__deps *d = (tg__deps *)tg__alloc(s, tg__deps_bytes(n));
    if (!d) return TG_ENOMEM;
    d->pending = (uint32_t)n + 1u;
    d->count = (uint32_t)n;
    d->failed = 0;
    d->edges = (tg__edge *)(void *)(d + 1);
    for (size_t i = 0; i < n; i++) {
        tg__edge *e = &d->edges[i];
        e->next = NULL;
        e->succ = d;
        e->dep_bits = after[i].bits;
        e->dep_index = (uint32_t)after[i].bits & TG__INDEX_MASK;
        e->dep_pair = TG__PAIR(tg__token_gen(s, after[i]));
    }
    *out = d;
    return TG_OK;
}

/* The successor's own end of the count: all its dependencies had ended by
   the time it was linked. It goes on as a plain submission would (the full
   policy applies), or ends KILLED for a dependency that did not complete. */
static int tg__submit_unlinked(tg__submission *sub, uint64_t failed)
{
    tg_scheduler *s = sub->s;
    tg__slot *sl = sub->sl;
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    if (failed && !(sub->op->flags & TG_OP_ALWAYS_RUN)) {
        uint64_t seen;
        if (tg__token_claim(sl, sub->gen, TG__FROM(TG_WAITING), &seen) == TG__CLAIM_WON) {
            TG__STORE_RELAXED(&sl->result.u, failed);
            (void)TG__FETCH_OR(&sl->gw, (uint64_t)TG__W_DEPFAIL);   /* slot-word RMW, the end ours */
            tg__token_settle(s, sub->w, sub->index, sl, TG_KILLED, 0, 1, 0);
        } else {
            tg__token_drop(s, sub->index, sl, 0, 0);   /* a shutdown's sweep ended it */
        }
        TG__COUNT(s, sub->w, submitted);
        if (sub->out) *sub->out = tg__make_token(s, sub->index, sub->gen);
        return TG_OK;
    }
    for (;;) {
        uint32_t word = TG__WORD(old);
        if ((word & TG__STATE_MASK) != (uint32_t)TG_WAITING || (word & TG__W_ENDING)) {
            tg__submit_wait_ended(sl);   /* a shutdown's sweep: the submission stands */
            tg__token_drop(s, sub->index, sl, 0, 0);
            TG__COUNT(s, sub->w, submitted);
            if (sub->out) *sub->out = tg__make_token(s, sub->index, sub->gen);
            return TG_OK;
        }
        TG__SLOT_STORE(&sl->admitted_ns, tg__stamp_ns());
        uint64_t desired = (old & ~(uint64_t)(TG__STATE_MASK | TG__W_DEPS)) | (uint32_t)TG_ADMITTED;
        /* slot-word RMW (conventions above) */
        if (TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            sub->word = TG__WORD(desired);
            break;
        }
    }
    if (TG__LIKELY(tg__route_push(s, sub->w, sl, sub->index, sub->pin))) return tg__submit_done(sub);
    return tg__submit_wait_room(sub);
}

/* A successor's slot and arguments are taken: publish it WAITING for its
   dependencies and link its edges (record d). */
static int tg__submit_linked(tg__submission *sub, tg__deps *d)
{
    tg_scheduler *s = sub->s;
    const tg_op *op = sub->op;
    sub->gen = TG__GEN(TG__LOAD_RELAXED(&sub->sl->gw)) + 1;   /* even -> odd: valid */
    sub->word = TG__W_HELD | TG__W_DEPS | (sub->out ? 0u : TG__W_RELEASED) |
                ((op->flags & TG_OP_NOTIFY) ? TG__W_NOTIFY_OP : 0u) |
                (op->max_live ? TG__W_LIMITED : 0u) | (op->timeout_ns > 0 ? TG__W_DEADLINE : 0u);
    tg__submit_place(sub);
    tg__submit_publish(sub, TG_WAITING, 0);
    /* where a pinned one goes once admitted (tg__deps_release) */
    if (sub->pin >= 0) TG__SLOT_STORE(&sub->sl->core, (int16_t)sub->pin);
    if (!TG__LOAD_SEQ_CST(&s->accepting) && !tg__task_thread(s)) {
        /* as in tg__submit_one: shutdown began meanwhile */
        tg__deps_free(s, d);
        return tg__submit_abandon(sub, TG_ESHUTDOWN);
    }
    d->index = sub->index;
    d->gen = sub->gen;
    tg__deptab *t = TG__LOAD_ACQUIRE(&s->deptab);
    for (uint32_t i = 0; i < d->count; i++) tg__deps_link(s, sub->w, t, &d->edges[i]);
    /* acq_rel, as every count: our links before the last count */
    if (TG__FETCH_SUB(&d->pending, 1u) != 1u) {
        /* an ender of the last dependency admits it */
        TG__COUNT(s, sub->w, submitted);
        if (sub->out) *sub->out = tg__make_token(s, sub->index, sub->gen);
        return TG_OK;
    }
    uint64_t failed = TG__LOAD_RELAXED(&d->failed);
    tg__deps_free(s, d);
    return tg__submit_unlinked(sub, failed);
}

TG_API int tg_submit_after(tg_scheduler *s, const tg_op *op, const void *args, size_t args_size,
                           const tg_token *after, size_t after_count, tg_token *out)
{
    if (out) *out = TG_TOKEN_NONE;
    if (after_count == 0) return tg_submit(s, op, args, args_size, out);
    if (!s || !after || !op) return TG_EINVAL;
    if (op->flags & TG_OP_DEDUPE) return TG_EINVAL;   /* a follower would share a leader's run */
    tg__submission sub;
    int rc = tg__submit_prepare(&sub, s, op, args, args_size, -1);
    if (rc != TG_OK) return rc;
    tg__deps *d;
    rc = tg__deps_make(s, after, after_count, &d);
    if (rc != TG_OK) return rc;
    sub.args = args;
    sub.out = out;
    sub.w = tg__current_worker(s);
    rc = tg__submit_take(&sub);
    if (rc != TG_OK) {
        tg__deps_free(s, d);
        return rc;
    }
    return tg__submit_linked(&sub, d);
}

/* ------------------------------------------------------------------------ */
/* Storage tiers: at most a tier's cap of its tokens run at once            */
/* ------------------------------------------------------------------------ */
/* >>tiers */

#define TG__TIERS (TG_IO_INSANE + 1)   /* TG_IO_NONE .. TG_IO_INSANE */

/* A storage tier's running count and the tokens set aside at its cap
   (s->tiers[TG__TIERS], by TG_IO_*; [0] unused). */
typedef struct tg__tier {
    pthread_mutex_t lock;
    uint32_t running, cap;   /* tokens of the tier running, at most cap */
    uint32_t head, tail;     /* set aside at the cap: FIFO by held_link */
    uint32_t waiting;
} tg__tier;

static int tg__tiers_init(tg_scheduler *s)
{
    s->tiers = (tg__tier *)tg__alloc_zero(s, sizeof(tg__tier) * TG__TIERS);
    if (!s->tiers) return TG_ENOMEM;
    for (int i = 0; i < TG__TIERS; i++) {
        pthread_mutex_init(&s->tiers[i].lock, NULL);
        s->tiers[i].cap = s->cfg.tier_caps[i];
    }
    return TG_OK;
}

static void tg__tiers_free(tg_scheduler *s)
{
    if (!s->tiers) return;
    for (int i = 0; i < TG__TIERS; i++) pthread_mutex_destroy(&s->tiers[i].lock);
    tg__free(s, s->tiers, sizeof(tg__tier) * TG__TIERS);
}

/* Storage tiers: at most cap tokens of a tier run at once. A token over
   the cap is set aside on the tier's list and its worker runs something
   else; when a token of the tier finishes, its worker runs the first one
   set aside, which inherits its place (so the list drains in order). */
static int tg__tier_enter(tg_scheduler *s, int tier, uint32_t index)
{
    tg__tier *t = &s->tiers[tier];
    pthread_mutex_lock(&t->lock);
    int entered = t->running < t->cap;
    if (entered) {
        t->running++;
    } else {
        /* slot-word RMW: on a list from here (tg_info reads held_link as
           a link); the gate's move to EXECUTING takes the flag off */
        (void)TG__FETCH_OR(&tg__slot_at(s, index)->gw, (uint64_t)TG__W_LISTED);
        tg__held_append(s, &t->head, &t->tail, index, TG__LIST_ASIDE);
        t->waiting++;
    }
    pthread_mutex_unlock(&t->lock);
    return entered;
}

/* Gives up a place in the tier: to the first token set aside (its index,
   to run next), or TG__NO_INDEX when none waits. */
static uint32_t tg__tier_leave(tg_scheduler *s, int tier)
{
    tg__tier *t = &s->tiers[tier];
    uint32_t next = TG__NO_INDEX;
    pthread_mutex_lock(&t->lock);
    if (t->head) {
        next = t->head - 1;
        t->head = tg__held_next(s, next, TG__LIST_ASIDE);
        if (!t->head) t->tail = 0;
        t->waiting--;
    } else {
        t->running--;
    }
    pthread_mutex_unlock(&t->lock);
    return next;
}

/* What tg_stats reports of the tiers. */
static void tg__tiers_read(tg_scheduler *s, uint32_t *running, uint32_t *waiting)
{
    for (int i = 1; i < TG__TIERS; i++) {
        pthread_mutex_lock(&s->tiers[i].lock);
        running[i] = s->tiers[i].running;
        waiting[i] = s->tiers[i].waiting;
        pthread_mutex_unlock(&s->tiers[i].lock);
    }
}

/* ------------------------------------------------------------------------ */
/* Workers: finding work, running tokens, ending them                       */
/* ------------------------------------------------------------------------ */
/* >>workers */

/* Queues token index again after a failed run (a retry) or a pause: at the
   back of a mailbox of its home range, or of its pinned core's pinned
   mailbox (pinned: a sticky key or a domain, both kept). While every
   allowed queue is full, a core's owner between tokens runs other tokens;
   a task or an outside thread waits for room. A task's wait that sleeps
   on the token is woken: it may take it now. */
static void tg__requeue(tg_scheduler *s, tg__worker *w, tg__slot *sl, uint32_t index)
{
    uint32_t word = TG__WORD(TG__LOAD_ACQUIRE(&sl->gw));
    int pin = ((word & TG__W_STICKY) || TG__LOAD_RELAXED(&sl->domain)) ? TG__SLOT_LOAD(&sl->core) : -1;
    while (!tg__route_push(s, NULL, sl, index, pin)) {
        w = tg__current_worker(s);
        tg__thread *t = tg__task_thread(s);
        if (w && !t) {
            if (!tg__run_one(s, w)) tg__worker_park(s, w, tg__now_ns() + 100000);
            continue;
        }
        tg__space_want want;
        want.s = s;
        want.lo = s->cfg.strict_routing ? tg__range_start(s, tg__slot_op(sl)->weight) : 0;
        want.pin = pin;
        /* a shutting-down scheduler reads as ready at once: poll */
        if (!TG__LOAD_SEQ_CST(&s->accepting)) tg__sleep_ns(50000);
        else if (t) (void)tg__task_wait_room(s, t, &s->space_event, tg__space_ready, &want, -1);
        else tg__event_wait(&s->space_event, tg__space_ready, &want, -1, 10000000);
    }
    /* after the push: a waiter that flagged the word before sees the
       token queued when it wakes, one that flags it after sees it so */
    if (TG__WORD(TG__LOAD_ACQUIRE(&sl->gw)) & TG__W_WAITER) tg__futex_wake(tg__slot_futex(sl), INT_MAX);
}

/* Puts a token of a paused op on the op's held list (FIFO): 1. 0 if the op
   was resumed meanwhile (run it); -1 if it was drained meanwhile (kill it:
   a drain raises drain_mark, then takes the held list under the lock); 2
   if its word moved from *old (a task's wait took it, say: look again).
   W_LISTED goes on in the same move, so no wait takes it from the list. */
static int tg__op_hold(tg_scheduler *s, tg__opent *e, tg__slot *sl, uint32_t index, uint64_t *old)
{
    pthread_mutex_lock(&e->lock);
    int held = e->paused != 0;
    /* acquire (marks, here and below): pairs with the release CAS in
       tg__op_raise */
    if (held && TG__LOAD_RELAXED(&sl->epoch) < TG__LOAD_ACQUIRE(&e->drain_mark)) held = -1;
    if (held > 0) {
        /* slot-word RMW (conventions above) */
        if (TG__CAS(&sl->gw, old, *old | TG__W_LISTED, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            tg__held_append(s, &e->held_head, &e->held_tail, index, TG__LIST_HELD);
        else
            held = 2;
    }
    pthread_mutex_unlock(&e->lock);
    return held;
}

/* Running a token taken from a queue, in four steps: the gate decides
   whether it runs now, the call runs its function, the record books the
   run's telemetry, and the finish ends it (or queues a retry). */
enum { TG__GATE_RUN, TG__GATE_DONE, TG__GATE_ASIDE };

static inline void tg__recruit_mailbox(tg_scheduler *s, tg__worker *w);

/* A function starts: counted in its core's busy (by the core's owner) or
   in busy_other (a thread without a core). */
static inline void tg__busy_begin(tg_scheduler *s, tg__worker *w)
{
    if (w) TG__STORE_RELAXED(&w->busy, w->busy + 1);
    else (void)TG__FETCH_ADD_SEQ_CST(&s->busy_other, 1u);   /* seq_cst: like tg__handoff's */
}

/* ...and returns; w: the core it started on (NULL: none). A thread that
   handed that core on since moved its count to busy_other (tg__handoff).
   Release: what the function did (its submissions counted) comes before a
   tg_shutdown that reads it idle; pairs with tg__quiet. */
static inline void tg__busy_end(tg_scheduler *s, tg__worker *w)
{
    if (w && tg__tls_worker == w) TG__STORE_RELEASE(&w->busy, w->busy - 1);
    else (void)TG__FETCH_SUB_RELEASE(&s->busy_other, 1u);
}

/* The gate's move of a token to EXECUTING from the word *old (ADMITTED,
   not taken). 1: it moved; 0: the word changed (*old is the new one). */
TG__HOT_INLINE int tg__gate_start(tg_scheduler *s, tg__worker *w, tg__slot *sl, uint64_t *old)
{
    uint64_t desired = (*old & ~(uint64_t)(TG__STATE_MASK | TG__W_LISTED)) | (uint32_t)TG_EXECUTING |
                       TG__W_RUNNING;
    /* no stamp before the move wins: a task's wait may take the token
       meanwhile. The start is stamped after the move (tg__run_call), and
       an ender waits for it (tg__start_stamped) */
    /* off a tier's list: held_link counts blocked time again (the link was
       read by tg__tier_leave) */
    if (*old & TG__W_LISTED) TG__SLOT_STORE(&sl->held_link, 0u);
    /* busy before the move: a submitter that reads it clear decides this
       worker takes its token soon, so this worker looks at its queue after
       the move (below) */
    tg__busy_begin(s, w);
    /* slot-word RMW (conventions above); seq_cst, with the fence below:
       busy, then our look at the queue; pairs with the fence in
       tg__notify_work (its push, then its read of busy). Fails if a kill,
       a deadline or a waiter moved the word meanwhile */
    if (TG__CAS(&sl->gw, old, desired, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
#if !defined(__x86_64__) && !defined(__i386__)
        TG__FENCE_SEQ_CST();   /* x86: the locked CAS is the fence */
#endif
        if (w) tg__recruit_mailbox(s, w);
        return 1;
    }
    tg__busy_end(s, w);
    return 0;
}

/* The gate: drops a token ended while queued; ends one past its deadline
   (TIMEOUT), drained or cancelled (KILLED); holds one of a paused op back;
   sets one aside at its tier's cap (TG__GATE_ASIDE); else moves it to
   EXECUTING (TG__GATE_RUN); drops a void entry (tg__entry_void). pair:
   the entry's, 0 for a token from a tier's list. *held_tier: the tier in
   which the token holds a place, 0 if none. */
static __attribute__((noinline)) int tg__run_gate_slow(tg_scheduler *s, tg__worker *w, uint32_t index,
                                                      uint32_t pair, tg__slot *sl, int *held_tier)
{
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    if (tg__entry_void(sl, pair, &old)) return TG__GATE_DONE;
    const tg_op *op = tg__slot_op(sl);
    tg__opent *e = &s->ops[TG__LOAD_RELAXED(&sl->opi)];
    for (;;) {
        uint32_t word = TG__WORD(old);
        if ((word & TG__W_TAKEN) && tg__entry_void(sl, pair, &old)) return TG__GATE_DONE;
        if (TG__IS_TERMINAL(word) || (word & TG__W_ENDING)) {   /* ended while queued */
            tg__token_drop(s, index, sl, 0, 0);
            return TG__GATE_DONE;
        }
        tg_state end = TG_CREATED;   /* none */
        int hold = 0;
        if ((word & TG__W_DEADLINE) && tg__now_ns() >= tg__token_deadline(sl)) {
            end = TG_TIMEOUT;        /* past its deadline before it started: never starts */
        } else {
            /* a hint: tg__op_hold re-reads the flag under the op's lock */
            if (TG__LOAD_RELAXED(&e->paused)) hold = tg__op_hold(s, e, sl, index, &old);
            if (hold == 2) continue;
            if (hold > 0) return TG__GATE_DONE;                /* the held list has it */
            if (hold < 0 || TG__LOAD_ACQUIRE(&s->cancelling) || TG__LOAD_ACQUIRE(&s->stopping) ||
                TG__LOAD_RELAXED(&sl->epoch) < TG__LOAD_ACQUIRE(&e->drain_mark) ||
                ((word & TG__W_GROUP) && tg__group_stopped(tg__group_of(s, index))) ||
                ((word & TG__W_DOMAIN) && tg__domain_killed(s, sl)))
                end = TG_KILLED;
        }
        if (end != TG_CREATED) {
            /* from the unstarted states only: a task's wait that took the
               token meanwhile runs it (this entry is then void: again) */
            uint64_t seen;
            if (tg__token_claim(sl, 0, TG__FROM_UNSTARTED, &seen) != TG__CLAIM_WON) {
                old = TG__LOAD_ACQUIRE(&sl->gw);
                continue;
            }
            tg__token_settle(s, w, index, sl, end, 0, 1, 0);
            return TG__GATE_DONE;
        }
        /* tokens of a tier are never taken by a wait (tg__claimable) */
        if (op->io_tier && !*held_tier) {
            if (!tg__tier_enter(s, op->io_tier, index)) return TG__GATE_ASIDE;
            *held_tier = op->io_tier;
        }
        if (tg__gate_start(s, w, sl, &old)) return TG__GATE_RUN;
    }
}

/* The gate's common case inline: the entry names its token, ADMITTED and
   nothing else to decide (no deadline, no tier, no pause, cancel, stop or
   drain). Anything else, or a move that fails, takes the full gate. */
TG__HOT_INLINE int tg__run_gate(tg_scheduler *s, tg__worker *w, uint32_t index, uint32_t pair, tg__slot *sl,
                                int *held_tier)
{
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    const uint32_t look = TG__STATE_MASK | TG__W_TAKEN | TG__W_HELD | TG__W_DEADLINE | TG__W_ENDING |
                          TG__W_LISTED | TG__W_GROUP | TG__W_DOMAIN;
    if (TG__LIKELY((TG__WORD(old) & look) == (TG__W_HELD | (uint32_t)TG_ADMITTED) &&
                   TG__PAIR(TG__GEN(old)) == pair)) {
        tg__opent *e = &s->ops[TG__LOAD_RELAXED(&sl->opi)];
        if (TG__LIKELY(!tg__slot_op(sl)->io_tier && !TG__LOAD_RELAXED(&e->paused) &&
                       !TG__LOAD_ACQUIRE(&s->cancelling) && !TG__LOAD_ACQUIRE(&s->stopping) &&
                       TG__LOAD_RELAXED(&sl->epoch) >= TG__LOAD_ACQUIRE(&e->drain_mark)) &&
            TG__LIKELY(tg__gate_start(s, w, sl, &old)))
            return TG__GATE_RUN;
    }
    return tg__run_gate_slow(s, w, index, pair, sl, held_tier);
}

/* What one run of a function produced. */
typedef struct tg__run {
    int rc;
    tg_value result;
    int64_t admitted, started, returned;
    uint64_t own_ns;         /* run time less the runs of tokens its waits
                                ran and less the time it spent blocked */
    uint64_t blocked_ns;     /* time it spent blocked (its core handed on) */
} tg__run;

/* The call: runs the function with the thread's task state (tg_self,
   tg_should_stop) set to this token, on the calling thread t, which
   started it as the owner of core w or (w NULL) without a core. A token's
   own run time excludes the time its waits spent running other tokens on
   this thread (t->inner_ns collects those) and the time it spent blocked
   (t->blocked_ns), so a core's summed busy time never exceeds the wall
   time. */
TG__HOT_INLINE void tg__run_call(tg_scheduler *s, tg__worker *w, uint32_t index, tg__slot *sl, tg__run *run)
{
    tg__thread *t = tg__tls_thread;
    TG__SLOT_STORE(&sl->core, (int16_t)t->home->index);
    /* never before its admission (for a retry: its requeue), whichever
       clock stamped that */
    run->admitted = TG__LOAD_RELAXED(&sl->retries) ? TG__LOAD_RELAXED(&sl->ended_ns)
                                                   : TG__LOAD_RELAXED(&sl->admitted_ns);
    run->started = tg__stamp_ns();
    if (run->started < run->admitted) run->started = run->admitted;
    TG__SLOT_STORE(&sl->started_ns, run->started);
    /* with a core, no frame below runs without one (coreless_since 0);
       without, the frame below ran so up to here: its blocked time */
    if (TG__UNLIKELY(!w) && t->coreless_since && run->started > t->coreless_since)
        t->blocked_ns += (uint64_t)(run->started - t->coreless_since);

    tg__slot *saved_slot = tg__tls_slot;
    uint64_t saved_token = tg__tls_token;
    uint64_t saved_inner = t->inner_ns, saved_blocked = t->blocked_ns;
    tg__tls_slot = sl;
    /* only a release (of this token) can move the generation while we
       hold the slot: odd means not released, even means released once */
    uint32_t gen = TG__GEN(TG__LOAD_ACQUIRE(&sl->gw));
    if ((gen & 1u) == 0) gen -= 1;  /* released while queued: the handle's generation */
    tg__tls_token = tg__make_token(s, index, gen).bits;
    t->stack_tokens[t->depth] = tg__tls_token;   /* depth <= depth_hard (tg__claimable) */
    TG__STORE_RELAXED(&t->depth, t->depth + 1);
    t->inner_ns = 0;
    t->blocked_ns = 0;
    if (TG__UNLIKELY(!w)) t->coreless_since = run->started;

    run->result.u = 0;
    const void *args = sl->args_size > TG__INLINE_ARGS ? sl->args.heap.ptr : (const void *)sl->args.bytes;
    run->rc = tg__slot_op(sl)->fn(args, &run->result);

    if (TG__UNLIKELY(t->section_depth) && t->section_frame == t->depth) {   /* returned in a section */
        t->section_depth = 0;
        tg__block_end(t, t->section_since);
    }
    TG__STORE_RELAXED(&t->depth, t->depth - 1);
    tg__busy_end(s, w);
    run->returned = tg__stamp_ns();
    if (run->returned < run->started) run->returned = run->started;
    if (TG__UNLIKELY(t->coreless_since)) {
        if (run->returned > t->coreless_since) t->blocked_ns += (uint64_t)(run->returned - t->coreless_since);
        /* the frame below goes on without a core from here */
        t->coreless_since = run->returned;
    }
    uint64_t gross = (uint64_t)(run->returned - run->started);
    uint64_t other = t->inner_ns + t->blocked_ns;
    run->own_ns = gross > other ? gross - other : 0;
    run->blocked_ns = t->blocked_ns;
    t->inner_ns = saved_inner + gross;
    t->blocked_ns = saved_blocked;
    tg__tls_slot = saved_slot;
    tg__tls_token = saved_token;
}

/* Run time by the second it ended in (two seconds kept), for a thread
   without a core: shared by all of them, atomic adds (statistics). */
static void tg__run_record_other(tg_scheduler *s, const tg__run *run)
{
    (void)TG__FETCH_ADD_RELAXED(&s->other_run_ns, run->own_ns);
    uint64_t sec = (uint64_t)run->returned / 1000000000u;
    unsigned k = (unsigned)(sec & 1u);
    uint64_t id = TG__LOAD_RELAXED(&s->other_sec_id[k]);
    if (id != sec && TG__CAS(&s->other_sec_id[k], &id, sec, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        TG__STORE_RELAXED(&s->other_sec_ns[k], (uint64_t)0);
    (void)TG__FETCH_ADD_RELAXED(&s->other_sec_ns[k], run->own_ns);
}

/* The record: counts and histograms of the run. The core's owner writes
   its core's rows (one writer: release stores, paired with the acquire
   loads of tg_stats and tg__op_stats_collect); a thread without a core
   (w NULL) adds to the shared ones atomically. */
/* ...by a thread without a core: the shared rows, atomic adds. */
static void tg__run_record_shared(tg_scheduler *s, uint32_t opi, const tg__run *run, uint64_t waited)
{
    tg__ophist *h = &s->ops[opi].hist;
    tg__hist_add(h->exec, run->own_ns, 1);
    tg__hist_add(h->wait, waited, 1);
    (void)TG__FETCH_ADD_RELAXED(&s->outside.executed, 1);
    (void)TG__FETCH_ADD_RELAXED(&h->exec_sum, run->own_ns);
    (void)TG__FETCH_ADD_RELAXED(&h->wait_sum, waited);
    (void)TG__FETCH_ADD_RELAXED(&h->blocked_sum, run->blocked_ns);
    tg__run_record_other(s, run);
}

TG__HOT_INLINE void tg__run_record(tg_scheduler *s, tg__worker *w, uint32_t opi, const tg__run *run)
{
    uint64_t waited = run->started > run->admitted ? (uint64_t)(run->started - run->admitted) : 0;
    if (w) {
        tg__ophist *h = &w->oph[opi];
        tg__hist_add(h->exec, run->own_ns, 0);
        tg__hist_add(h->wait, waited, 0);
        /* a core's runs and run time are its rows' sums (tg__core_runs) */
        /* owner-only average (1/8 weight for the newest) for tg__recruit_mailbox */
        int64_t capped = run->own_ns < 1000000000u ? (int64_t)run->own_ns : 1000000000;
        w->run_avg_ns = (uint32_t)((int64_t)w->run_avg_ns + (capped - (int64_t)w->run_avg_ns) / 8);
        TG__STAT_STORE(&h->exec_sum, TG__LOAD_RELAXED(&h->exec_sum) + run->own_ns);
        TG__STAT_STORE(&h->wait_sum, TG__LOAD_RELAXED(&h->wait_sum) + waited);
        if (run->blocked_ns) TG__STAT_STORE(&h->blocked_sum, TG__LOAD_RELAXED(&h->blocked_sum) + run->blocked_ns);
        /* run time by the second it ended in (two seconds kept) */
        uint64_t sec = (uint64_t)run->returned / 1000000000u;
        unsigned k = (unsigned)(sec & 1u);
        if (TG__LOAD_RELAXED(&w->sec_id[k]) != sec) {
            TG__STAT_STORE(&w->sec_ns[k], (uint64_t)0);
            TG__STAT_STORE(&w->sec_id[k], sec);
        }
        TG__STAT_STORE(&w->sec_ns[k], TG__LOAD_RELAXED(&w->sec_ns[k]) + run->own_ns);
    } else {
        tg__run_record_shared(s, opi, run, waited);
    }
    if (run->rc == 0) TG__COUNT_OP(s, w, opi, successes);
    else {
        TG__COUNT_OP(s, w, opi, failures);
        if (s->cfg.auto_block) tg__op_judge(s, opi);
    }
}

/* The finish: the run's outcome. Killed (tg_kill, tg_op_kill, a cancelling
   shutdown) or late: KILLED or TIMEOUT, the result discarded; a failure
   with retries left goes back to the queues (1); else COMPLETED or FAILED.
   A token another thread ended while it ran (its deadline, a shutdown's
   sweep) is only dropped, its holds given back now that the function
   returned. `sticky`: its sticky entry, read before the run. */
TG__HOT_INLINE int tg__run_finish(tg_scheduler *s, tg__worker *w, uint32_t index, tg__slot *sl,
                          const tg__run *run, uint32_t sticky)
{
    const tg_op *op = tg__slot_op(sl);
    tg__opent *e = &s->ops[TG__LOAD_RELAXED(&sl->opi)];
    for (;;) {
        /* acquire: sees a kill request or a claim (slot-word RMWs) */
        uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
        uint32_t word = TG__WORD(old);
        if (TG__IS_TERMINAL(word) || (word & TG__W_ENDING)) {
            tg__token_drop(s, index, sl, 1, sticky);
            return 0;
        }
        tg_state final;
        if ((word & TG__W_KILL) || TG__LOAD_ACQUIRE(&s->cancelling) ||
            TG__LOAD_RELAXED(&sl->epoch) < TG__LOAD_ACQUIRE(&e->kill_mark))
            final = TG_KILLED;
        else if ((word & TG__W_DEADLINE) && run->returned >= tg__token_deadline(sl))
            final = TG_TIMEOUT;      /* returned past its deadline (a return before it counts) */
        else final = run->rc == 0 ? TG_COMPLETED : TG_FAILED;
        if (final == TG_FAILED) TG__SLOT_STORE(&sl->failure_code, (int32_t)run->rc);
        if (final == TG_FAILED && (int)TG__LOAD_RELAXED(&sl->retries) < op->max_retries) {
            /* a retry: back to ADMITTED, same slot, handle, pins and
               domain; a kill or a claim in between wins (look again) */
            uint64_t again = (old & ~(uint64_t)(TG__STATE_MASK | TG__W_RUNNING)) | (uint32_t)TG_ADMITTED;
            if (!TG__CAS(&sl->gw, &old, again, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue;
            TG__SLOT_STORE(&sl->retries, (uint16_t)(TG__LOAD_RELAXED(&sl->retries) + 1));
            TG__COUNT_OP(s, w, TG__LOAD_RELAXED(&sl->opi), retried);
            /* stamps never go back: admitted_ns keeps the first admission and
               started_ns the last start; the requeue time, for this run's
               queue wait, goes where the end will (tg_info shows ended_ns
               only once the token is terminal) */
            TG__SLOT_STORE(&sl->ended_ns, tg__stamp_ns());
            return 1;
        }
        uint64_t seen;
        if (tg__token_claim(sl, 0, TG__FROM(TG_EXECUTING), &seen) != TG__CLAIM_WON) continue;
        if (final == TG_COMPLETED) TG__STORE_RELAXED(&sl->result.u, run->result.u);
        tg__token_settle(s, w, index, sl, final, run->returned, 1, 1);
        return 0;
    }
}

/* Runs a token that has moved to EXECUTING (the gate, or a task's wait
   that took it): the call, the record, the finish; a retry goes back to
   the queues. A token of a storage tier blocks: its core goes to a spare
   first (section 16). The core (if any) is read again after the call: the
   function may have handed it on. */
TG__HOT_INLINE void tg__run_started(tg_scheduler *s, uint32_t index, tg__slot *sl, int tier)
{
    uint32_t opi = TG__LOAD_RELAXED(&sl->opi);
    uint32_t sticky = TG__LOAD_RELAXED(&sl->link);   /* while live: its sticky entry */
    tg__worker *w = tg__tls_worker;
    if (tier && w && tg__handoff(s)) {
        /* counted in busy_other from here (tg__handoff moved it) */
        w = NULL;
    }
    tg__run run;
    tg__run_call(s, w, index, sl, &run);
    w = tg__tls_worker;
    tg__run_record(s, w, opi, &run);
    tg__slot_blocked_add(sl, run.blocked_ns);
    if (tg__run_finish(s, w, index, sl, &run, sticky)) tg__requeue(s, w, sl, index);
}

/* Runs (or drops, holds back, sets aside) token `index`, taken from a
   queue (its entry's pair; 0: from a tier's waiting list). *held_tier:
   the tier whose place it holds (set by the gate), 0 if none. Returns a
   token set aside that inherits the place this one leaves, or
   TG__NO_INDEX. */
TG__HOT_INLINE uint32_t tg__run_token_once(tg_scheduler *s, uint32_t index, uint32_t pair, int *held_tier)
{
    tg__slot *sl = tg__slot_at(s, index);
    int gate = tg__run_gate(s, tg__tls_worker, index, pair, sl, held_tier);
    if (gate == TG__GATE_ASIDE) return TG__NO_INDEX;
    if (gate == TG__GATE_RUN) tg__run_started(s, index, sl, *held_tier != 0);
    return *held_tier ? tg__tier_leave(s, *held_tier) : TG__NO_INDEX;
}

/* Tokens set aside at a tier's cap take their turn, one after another, in
   the place of the tier that the one before left. */
static __attribute__((noinline)) void tg__run_aside(tg_scheduler *s, uint32_t index, int tier)
{
    while (index != TG__NO_INDEX) index = tg__run_token_once(s, index, 0, &tier);
}

static void tg__run_token(tg_scheduler *s, uint64_t entry)
{
    int tier = 0;
    uint32_t index = tg__run_token_once(s, TG__ENTRY_INDEX(entry), TG__ENTRY_PAIR(entry), &tier);
    if (TG__UNLIKELY(index != TG__NO_INDEX)) tg__run_aside(s, index, tier);
}

/* A cell of mailbox m was freed: when m is down to half full, tell outside
   submitters waiting for room. */
static inline void tg__space_freed(tg_scheduler *s, tg__mailbox *m)
{
    /* full fence: the freed cell before the look at waiters; pairs with the
       fence in tg__event_wait */
    TG__FENCE_SEQ_CST();
    if (TG__LOAD_RELAXED(&s->space_event.waiters) && tg__mailbox_depth(m) <= tg__space_mark(s))
        tg__event_signal(&s->space_event);
}

/* Taking one of several queued tokens: recruit a parked worker for the rest. */
static inline void tg__recruit(tg_scheduler *s, tg__worker *w)
{
    if (!s->cfg.strict_routing && TG__LOAD_RELAXED(&s->sleeping_count) &&
        (tg__deque_depth(&w->deque) || tg__mailbox_nonempty(&w->mailbox)))
        tg__wake_thief(s, w);
}

/* About to run a token (tg__run_gate, after its move to EXECUTING): recruit
   a parked worker for this worker's mailbox only when the tokens queued
   would keep this worker busy for longer than a thief takes to wake
   (TG__RECRUIT_NS), judged by its recent run times. A stream
   of short tokens that it keeps up with stays its own: a woken thief would
   take turns at the CPU of whoever submits them, and the two consumers
   would trade the mailbox's lines. For short tokens it looks far ahead,
   at one cell once per line of cells. */
#define TG__RECRUIT_NS 20000u
#define TG__TOKEN_COST_NS 100u    /* the scheduler's own time per token */
static inline void tg__recruit_mailbox(tg_scheduler *s, tg__worker *w)
{
    if (s->cfg.strict_routing || !TG__LOAD_RELAXED(&s->sleeping_count)) return;
    tg__mailbox *m = &w->mailbox;
    uint32_t pos = TG__LOAD_RELAXED(&m->head);
    uint32_t cap = (m->mask + 1) / 2;
    /* the test below (need > 8) without the division: most calls of a
       stream of short tokens end here */
    if ((pos & 7u) && cap > 8 && w->run_avg_ns + TG__TOKEN_COST_NS <= TG__RECRUIT_NS / 9) return;
    uint32_t need = TG__RECRUIT_NS / (w->run_avg_ns + TG__TOKEN_COST_NS);
    if (need == 0) need = 1;
    if (need > cap) need = cap;
    if (need > 8 && (pos & 7u)) return;
    if (tg__deque_depth(&w->deque) || tg__mailbox_full_at(m, pos + need - 1))
        tg__wake_thief(s, w);
}

/* Finds a token worker w may run: own deque (newest first), own pinned
   mailbox, own mailbox, then (unless strict) the oldest from other cores'
   deques and mailboxes (never their pinned ones): its queue entry, or
   TG__NO_ENTRY if none. */
static uint64_t tg__find_work(tg_scheduler *s, tg__worker *w)
{
    uint64_t item;
    /* acquire: pairs with tg_pause's store. A stopping scheduler drains
       whatever is queued (the gate ends it) even under a pause that is
       being taken back: a worker leaves only with its queues empty */
    if (TG__LOAD_ACQUIRE(&s->paused) && !TG__LOAD_ACQUIRE(&s->stopping)) return TG__NO_ENTRY;
    if (tg__deque_pop(&w->deque, &item)) {
        tg__recruit(s, w);
        return item;
    }
    if (tg__mailbox_pop(&w->pinned, &item)) {
        tg__space_freed(s, &w->pinned);
        return item;
    }
    if (tg__mailbox_pop(&w->mailbox, &item)) goto from_mailbox;   /* tg__run_gate recruits */
    if (!s->cfg.strict_routing && s->nworkers > 1) {
        unsigned n = s->nworkers;
        w->rng = w->rng * 1103515245u + 12345u;
        unsigned start = (w->rng >> 16) % n;
        for (unsigned k = 0; k < n; k++) {
            tg__worker *v = s->workers[(start + k) % n];
            if (v == w) continue;
            int r;
            while ((r = tg__deque_steal(&v->deque, &item)) < 0) tg__cpu_relax();
            if (r > 0) goto stolen;
            if (tg__mailbox_pop(&v->mailbox, &item)) {
                tg__space_freed(s, &v->mailbox);
                goto stolen;
            }
        }
    }
    return TG__NO_ENTRY;
stolen:
    TG__STORE_RELAXED(&w->counters.stolen, TG__LOAD_RELAXED(&w->counters.stolen) + 1);
    return item;
from_mailbox:
    tg__mailbox_prefetch(s, &w->mailbox, TG__MAILBOX_AHEAD);
    tg__space_freed(s, &w->mailbox);
    return item;
}

/* Runs one token if there is one. 1 if it ran something. */
static int tg__run_one(tg_scheduler *s, tg__worker *w)
{
    uint64_t entry = tg__find_work(s, w);
    if (entry == TG__NO_ENTRY) return 0;
    tg__run_token(s, entry);
    return 1;
}

#define TG__IDLE_SPIN_NS 50000
#define TG__SPIN_SOLO_NS 2000  /* spin without yielding this long first */

/* Serves core w, owned by the calling thread t, until the scheduler exits
   or a task on t's stack handed w on (t then runs on without a core, and
   its stack has unwound when this returns). */
static void tg__serve(tg_scheduler *s, tg__worker *w)
{
    for (;;) {
        if (tg__run_one(s, w)) {
            if (tg__tls_worker != w) return;
            continue;
        }
        tg__idle_signal(s);
        /* only tg_destroy makes workers leave: after tg_shutdown they stay
           (parked, no CPU) to drop what a late push still queues */
        if (TG__LOAD_ACQUIRE(&s->exiting)) break;
        /* spin briefly: a token that arrives now starts without a wake-up */
        int64_t spin_until = tg__now_ns() + TG__IDLE_SPIN_NS;
        int found = 0;
        while (!found && !TG__LOAD_RELAXED(&s->exiting)) {
            for (int i = 0; i < 64; i++) {
                if (tg__work_visible(s, w)) { found = 1; break; }
                tg__cpu_relax();
            }
            /* past the first microseconds, a thread sharing this CPU (an
               outside waiter, say) gets it */
            int64_t now = tg__now_ns();
            if (now > spin_until - TG__IDLE_SPIN_NS + TG__SPIN_SOLO_NS) sched_yield();
            if (now > spin_until) break;
        }
        if (found) continue;
        tg__cache_flush(s, w);
        tg__worker_park(s, w, -1);
    }
    tg__cache_flush(s, w);
}

static void *tg__thread_main(void *arg)
{
    tg__thread *t = (tg__thread *)arg;
    tg_scheduler *s = t->sched;
    tg__tls_thread = t;
    for (;;) {
        /* acquire: pairs with the release store of the thread that handed
           it the core (tg__spare_take) */
        tg__worker *w = TG__LOAD_ACQUIRE(&t->core);
        if (w) {
            tg__thread_pin(s, t, w);
            tg__tls_worker = w;
            t->coreless_since = 0;
            tg__serve(s, w);
        }
        if (TG__LOAD_ACQUIRE(&s->exiting)) break;
        tg__pool_park(s, t);
    }
    tg__tls_worker = NULL;
    tg__tls_thread = NULL;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Await and poll                                                           */
/* ------------------------------------------------------------------------ */
/* >>await */

enum { TG__WAIT_ALL = 0, TG__WAIT_ANY = 1 };

typedef struct tg__wait_set {
    tg_scheduler *s;
    const tg_token *tokens;
    size_t n;
    int mode;
    size_t done;       /* ALL: tokens [0, done) are terminal */
    size_t index;      /* ANY: the terminal one */
    size_t scan;       /* ALL inside a task: members below it are looked at next */
    uint32_t arm;      /* flag to set on watched tokens, 0: none */
    int error;
} tg__wait_set;

/* Reads a token's state through its handle, expiring it if it is past its
   deadline. *gw: the state read, of the handle's generation (TG_ESTALE if
   it is gone by then). */
static int tg__token_read(tg_scheduler *s, tg_token t, uint32_t *index, tg__slot **slot, uint64_t *gw)
{
    int rc = tg__slot_lookup(s, t, index, slot, gw);
    if (rc != TG_OK) return rc;
    if (TG__WORD(*gw) & TG__W_DEADLINE) {
        *gw = tg__token_expire(s, *index, *slot, TG__GEN(*gw), *gw);
        if (TG__GEN(*gw) != tg__token_gen(s, t)) return TG_ESTALE;
    }
    return TG_OK;
}

/* Member i of a wait that may still matter (from the first unfinished one
   for ALL): its slot and word; 0 if its handle no longer names it. */
static int tg__wait_member(tg__wait_set *ws, size_t i, tg__slot **sl, uint64_t *gw)
{
    uint32_t index;
    return tg__slot_lookup(ws->s, ws->tokens[i], &index, sl, gw) == TG_OK;
}
#define TG__WAIT_FIRST(ws) ((ws)->mode == TG__WAIT_ALL ? (ws)->done : 0)

/* The earliest deadline among the live tokens a wait watches (from the
   first unfinished one for ALL), or -1: a sleeping waiter wakes for it. */
static int64_t tg__wait_expiry(tg__wait_set *ws)
{
    int64_t first = -1;
    for (size_t i = TG__WAIT_FIRST(ws); i < ws->n; i++) {
        tg__slot *sl;
        uint64_t gw;
        if (!tg__wait_member(ws, i, &sl, &gw)) continue;
        uint32_t word = TG__WORD(gw);
        if (!(word & TG__W_DEADLINE) || TG__IS_TERMINAL(word)) continue;
        int64_t d = tg__token_deadline(sl);
        if (first < 0 || d < first) first = d;
    }
    return first;
}

static inline int64_t tg__earlier(int64_t a, int64_t b)
{
    if (a < 0) return b;
    if (b < 0) return a;
    return a < b ? a : b;
}


/* Sets `flag` on a live token's word (generation `gen` only); 1 if it is
   (or became) terminal. */
static int tg__token_arm(tg__slot *sl, uint32_t gen, uint32_t flag, int *error)
{
    uint64_t old = TG__LOAD_ACQUIRE(&sl->gw);
    for (;;) {
        if (TG__GEN(old) != gen) { *error = TG_ESTALE; return 0; }
        if (TG__IS_TERMINAL(TG__WORD(old))) return 1;
        if (TG__WORD(old) & flag) return 0;
        /* slot-word RMW: either the ender sees the flag or we see the end */
        if (TG__CAS(&sl->gw, &old, old | flag, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 0;
    }
}

/* 1: the wait is satisfied; 0: not yet; < 0: a handle's error. */
static int tg__wait_check(tg__wait_set *ws)
{
    uint32_t index;
    uint64_t gw;
    tg__slot *sl;
    if (ws->mode == TG__WAIT_ALL) {
        while (ws->done < ws->n) {
            tg_token t = ws->tokens[ws->done];
            int rc = tg__token_read(ws->s, t, &index, &sl, &gw);
            if (rc != TG_OK) return rc;
            if (!TG__IS_TERMINAL(TG__WORD(gw))) {
                if (!ws->arm) return 0;
                int error = 0;
                int ended = tg__token_arm(sl, TG__GEN(gw), ws->arm, &error);
                if (error) return error;
                if (!ended) return 0;
            }
            ws->done++;
        }
        return 1;
    }
    for (size_t i = 0; i < ws->n; i++) {
        int rc = tg__token_read(ws->s, ws->tokens[i], &index, &sl, &gw);
        if (rc != TG_OK) return rc;
        if (TG__IS_TERMINAL(TG__WORD(gw))) { ws->index = i; return 1; }
    }
    if (!ws->arm) return 0;
    for (size_t i = 0; i < ws->n; i++) {
        int rc = tg__token_read(ws->s, ws->tokens[i], &index, &sl, &gw);
        if (rc != TG_OK) return rc;
        int error = 0;
        if (tg__token_arm(sl, TG__GEN(gw), ws->arm, &error)) {
            ws->index = i;
            return 1;
        }
        if (error) return error;
    }
    return 0;
}

#define TG__WAIT_SPIN_NS 20000
#define TG__TASK_SPIN_NS 5000   /* a task's wait spins this long before it sleeps */

/* Outside a task, first: spin for TG__WAIT_SPIN_NS (less to a nearer
   deadline). tg__wait_check's answer when it came, 0 when the spin ends. */
static int tg__wait_spin(tg__wait_set *ws, int64_t deadline)
{
    tg_scheduler *s = ws->s;
    int64_t spin_start = tg__now_ns();
    int64_t spin_until = spin_start + TG__WAIT_SPIN_NS;
    /* the worker pinned to this thread's CPU, if any */
    tg__worker *neighbour = NULL;
    int cpu = sched_getcpu();
    for (unsigned i = 0; i < s->nworkers && !neighbour; i++)
        if (TG__LOAD_RELAXED(&s->workers[i]->cpu) == cpu) neighbour = s->workers[i];
    if (deadline >= 0 && deadline < spin_until) spin_until = deadline;
    for (;;) {
        for (int i = 0; i < 16; i++) {
            int r = tg__wait_check(ws);
            if (r) return r;
            tg__cpu_relax();
        }
        /* past the first microseconds, or at once when this thread shares
           its CPU with an awake worker, let that worker run */
        int64_t now = tg__now_ns();
        if (now > spin_start + TG__SPIN_SOLO_NS ||
            (neighbour && !TG__LOAD_RELAXED(&neighbour->sleeping)))
            sched_yield();
        if (now >= spin_until) return 0;
    }
}

/* One sleep of a tg_wait_any: on the scheduler's any-sequence. */
static int tg__wait_sleep_any(tg__wait_set *ws, int64_t deadline)
{
    tg_scheduler *s = ws->s;
    /* read before arming: a token ending after the arm bumps it */
    uint32_t seen = TG__LOAD_ACQUIRE(&s->any_seq);
    ws->arm = TG__W_ANY;
    int r = tg__wait_check(ws);
    ws->arm = 0;
    if (r) return r;
    (void)tg__futex_wait(&s->any_seq, seen, tg__earlier(deadline, tg__wait_expiry(ws)));
    return 0;
}

/* One sleep of a wait for all: on the last unfinished token, not the
   first (tokens end roughly in order, so a wait for many costs a wake-up
   or two instead of one per token). An error code, or 0 to look again. */
static int tg__wait_sleep_all(tg__wait_set *ws, int64_t deadline)
{
    uint32_t index;
    uint64_t gw;
    tg__slot *sl;
    size_t last = ws->n;
    do {
        int rc = tg__token_read(ws->s, ws->tokens[--last], &index, &sl, &gw);
        if (rc != TG_OK) return rc;
    } while (TG__IS_TERMINAL(TG__WORD(gw)) && last > ws->done);
    if (TG__IS_TERMINAL(TG__WORD(gw))) return 0;
    if (!(TG__WORD(gw) & TG__W_WAITER)) {
        /* the flag goes in by CAS on the state the ender CASes, with the
           generation: either the ender sees it and wakes us, or we see the
           end (or the release, which wakes us too) */
        if (!TG__CAS(&sl->gw, &gw, gw | TG__W_WAITER, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 0;
        gw |= TG__W_WAITER;
    }
    (void)tg__futex_wait(tg__slot_futex(sl), TG__WORD(gw), tg__earlier(deadline, tg__wait_expiry(ws)));
    return 0;
}

/* Outside a task: spin briefly, then sleep on the futex of the last
   unfinished token (ALL) or on the scheduler's any-sequence (ANY). */
static int tg__wait_blocking(tg__wait_set *ws, int64_t deadline)
{
    int r = tg__wait_spin(ws, deadline);
    while (r == 0) {
        r = tg__wait_check(ws);
        if (r) break;
        if (deadline >= 0 && tg__now_ns() >= deadline) return TG_ETIMEDOUT;
        r = ws->mode == TG__WAIT_ANY ? tg__wait_sleep_any(ws, deadline) : tg__wait_sleep_all(ws, deadline);
    }
    return r < 0 ? r : TG_OK;
}

/* ---- waits inside a task ----
   A task's wait may run beneath itself only the tokens it waits for (the
   members of its set, when it waits for all without a timeout), found at
   the bottom of its core's deque or taken by state from whatever queue
   holds them (W_TAKEN). Whatever it runs then waits only on tokens that
   either are not on this thread's stack or close a cycle through every
   frame above them (each frame waits for the one above it), a cycle the
   caller made: so running them never deadlocks. When it can run none, the
   wait hands its core to a spare and sleeps like an outside waiter. */

/* No spare can be had: max_spare_workers threads beyond the cores exist
   and none waits in the pool (a hint: relaxed). */
static inline int tg__spares_exhausted(tg_scheduler *s)
{
    return TG__LOAD_RELAXED(&s->threads_alive) >= s->thread_limit && TG__LOAD_RELAXED(&s->pool_size) == 0;
}

/* May thread t take token sl (word `word`) from its queue and run it
   beneath its wait? It must be queued (ADMITTED, on no held list, not
   taken, not being stamped or ended), not of a storage tier (those block:
   they go through the queues), not held back by a pause, drain or
   shutdown, and within the nesting bound (depth_soft frames; up to
   depth_hard once no spare can be had). A token pinned to another core
   (sticky, domain) or outside the home range of a strict router is left
   to its core, unless no spare can be had. */
static int tg__claimable(tg_scheduler *s, tg__thread *t, uint32_t index, tg__slot *sl, uint32_t word)
{
    if ((word & TG__STATE_MASK) != (uint32_t)TG_ADMITTED ||
        (word & (TG__W_TAKEN | TG__W_LISTED | TG__W_STAMPING | TG__W_ENDING)))
        return 0;
    const tg_op *op = tg__slot_op(sl);
    tg__opent *e = &s->ops[TG__LOAD_RELAXED(&sl->opi)];
    if (op->io_tier || TG__LOAD_RELAXED(&e->paused) || TG__LOAD_RELAXED(&s->paused) ||
        TG__LOAD_ACQUIRE(&s->cancelling) || TG__LOAD_ACQUIRE(&s->stopping) ||
        TG__LOAD_RELAXED(&sl->epoch) < TG__LOAD_ACQUIRE(&e->drain_mark))
        return 0;
    if ((word & TG__W_DEADLINE) && tg__now_ns() >= tg__token_deadline(sl)) return 0;
    if ((word & TG__W_GROUP) && tg__group_stopped(tg__group_of(s, index))) return 0;
    if ((word & TG__W_DOMAIN) && tg__domain_killed(s, sl)) return 0;
    if (t->section_depth) return 0;   /* a blocking section runs nothing beneath it */
    int exhausted = -1;   /* not read yet */
    if (t->depth >= s->depth_soft) {
        if (t->depth >= s->depth_hard || !(exhausted = tg__spares_exhausted(s))) return 0;
    }
    unsigned home = t->home->index;
    int pinned = (word & TG__W_STICKY) || TG__LOAD_RELAXED(&sl->domain);
    int away = pinned ? TG__SLOT_LOAD(&sl->core) != (int16_t)home
                      : s->cfg.strict_routing && home < tg__range_start(s, op->weight);
    if (away && !(exhausted < 0 ? tg__spares_exhausted(s) : exhausted)) return 0;
    return 1;
}

/* Void entries (tg__entry_void) at the bottom of the owner's deque go at
   once: one there hides the child a wait looks for. An entry that turns
   out to name its token after all (a retry's second entry paid the debt
   meanwhile) goes back. */
static int tg__deque_drop_void(tg_scheduler *s, tg__worker *w)
{
    int dropped = 0;
    for (;;) {
        tg__deque *d = &w->deque;
        int64_t b = TG__LOAD_RELAXED(&d->bottom) - 1;
        if (b < TG__LOAD_RELAXED(&d->top)) return dropped;
        uint64_t entry = TG__LOAD_RELAXED(&d->items[b & (TG__DEQUE_CAPACITY - 1)]);
        tg__slot *sl = tg__slot_at(s, TG__ENTRY_INDEX(entry));
        uint32_t pair = TG__ENTRY_PAIR(entry);
        uint64_t gw = TG__LOAD_ACQUIRE(&sl->gw);
        int stale = TG__PAIR(TG__GEN(gw)) != pair || TG__FREEABLE(TG__WORD(gw));
        if (!stale && !(TG__WORD(gw) & TG__W_TAKEN)) return dropped;
        if (!tg__deque_pop_if(d, entry)) return dropped;
        if (!tg__entry_void(sl, pair, &gw)) {
            (void)tg__deque_push(d, entry);   /* the cell it left is free */
            return dropped;
        }
        dropped = 1;
    }
}

/* A task's wait takes token sl from its queue (its word was `old`): the
   move to EXECUTING sets W_TAKEN (the queue entry is void from here). As
   in the gate, nothing is written before the move wins: several waits and
   the gate may try the same token at once. 1 if it took it. */
static int tg__wait_claim(tg_scheduler *s, tg__worker *w, tg__slot *sl, uint64_t old)
{
    uint64_t desired = (old & ~(uint64_t)TG__STATE_MASK) | (uint32_t)TG_EXECUTING | TG__W_RUNNING |
                       TG__W_TAKEN;
    tg__busy_begin(s, w);
    /* slot-word RMW (conventions above); seq_cst as in tg__gate_start */
    if (!TG__CAS(&sl->gw, &old, desired, __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE)) {
        tg__busy_end(s, w);
        return 0;
    }
    if (w) tg__recruit_mailbox(s, w);
    return 1;
}

/* Runs token `index` beneath the calling thread's wait if it may (above):
   from the bottom of the core's deque when it is there (the common case:
   the child submitted last, inline below), else by taking it (W_TAKEN:
   its queue entry becomes void). 1 if it ran. */
static int tg__wait_take_other(tg_scheduler *s, tg__thread *t, uint32_t index, tg__slot *sl, uint64_t gw)
{
    tg__worker *w = tg__tls_worker;
    if (w && t->depth < s->depth_soft && !t->section_depth && tg__deque_drop_void(s, w)) {
        uint64_t entry = TG__ENTRY(index, gw);
        if (tg__deque_pop_if(&w->deque, entry)) {
            tg__run_token(s, entry);
            return 1;
        }
    }
    if (!tg__claimable(s, t, index, sl, TG__WORD(gw))) return 0;
    if (!tg__wait_claim(s, w, sl, gw)) return 0;
    tg__run_started(s, index, sl, 0);   /* never of a tier (tg__claimable) */
    return 1;
}

/* The common case of tg__wait_take: the token of queue entry `entry` is
   at the bottom of the core's deque. Popped, it goes through the gate like
   any token from a queue (which drops the entry if it is void). */
TG__HOT_INLINE int tg__wait_pop(tg_scheduler *s, tg__thread *t, uint64_t entry)
{
    tg__worker *w = tg__tls_worker;
    if (TG__LIKELY(w && t->depth < s->depth_soft && !t->section_depth) &&
        TG__LIKELY(tg__deque_pop_if(&w->deque, entry))) {
        tg__run_token(s, entry);
        return 1;
    }
    return 0;
}

TG__HOT_INLINE int tg__wait_take(tg_scheduler *s, tg__thread *t, uint32_t index, tg__slot *sl, uint64_t gw)
{
    return tg__wait_pop(s, t, TG__ENTRY(index, gw)) || tg__wait_take_other(s, t, index, sl, gw);
}

/* One step of a task's wait (for all, or for any: instead of sleeping,
   it runs a member too): runs one unfinished member it may run, newest
   first (ws->scan walks down once per round: a member seen
   running, or run, is looked at again after the next sleep). 1 if it ran
   one, 0 if none, or a handle's error. */
static int tg__wait_help(tg__wait_set *ws, tg__thread *t)
{
    tg_scheduler *s = ws->s;
    while (ws->scan > ws->done) {
        size_t i = --ws->scan;
        /* the entry a member's handle names: popped if it is at the bottom
           of the deque (the gate checks it), looked up only if not. The
           handles were checked (tg__wait_run) */
        tg_token h = ws->tokens[i];
        uint64_t entry = ((uint64_t)TG__PAIR(tg__token_gen(s, h)) << 32) | (h.bits & TG__INDEX_MASK);
        if (tg__wait_pop(s, t, entry)) return 1;
        uint32_t index;
        tg__slot *sl;
        uint64_t gw;
        int rc = tg__token_read(ws->s, ws->tokens[i], &index, &sl, &gw);
        if (rc != TG_OK) return rc;
        if (!TG__IS_TERMINAL(TG__WORD(gw)) && tg__wait_take_other(ws->s, t, index, sl, gw)) return 1;
    }
    return 0;
}

/* Is member i a function on this thread's own stack? */
static int tg__on_own_stack(tg__wait_set *ws, tg__thread *t, size_t i)
{
    unsigned n = t->depth < ws->s->depth_hard ? t->depth : ws->s->depth_hard;
    for (unsigned k = 0; k < n; k++)
        if (ws->tokens[i].bits == t->stack_tokens[k]) return 1;
    return 0;
}

/* Can the wait not end before it returns: TG_EDEADLK? For all, when an
   unfinished member is a function on this thread's own stack; for any,
   when every member is (none has ended: it was checked). */
static int tg__wait_on_own_stack(tg__wait_set *ws, tg__thread *t)
{
    for (size_t i = TG__WAIT_FIRST(ws); i < ws->n; i++) {
        int on = tg__on_own_stack(ws, t, i);
        if (on && ws->mode == TG__WAIT_ALL) return 1;
        if (!on && ws->mode == TG__WAIT_ANY) return 0;
    }
    return ws->mode == TG__WAIT_ANY;
}

/* Is token sl, on a held list, a dedupe follower whose leader is queued?
   Its leader is the live one of its entry (a follower's leader outlives
   it); a token of the op that runs alone, or the leader itself, is not. */
static int tg__leader_queued(tg_scheduler *s, tg__slot *sl)
{
    const tg_op *op = tg__slot_op(sl);
    if (!(op->flags & TG_OP_DEDUPE)) return 0;
    const void *args = sl->args_size > TG__INLINE_ARGS ? sl->args.heap.ptr : (const void *)sl->args.bytes;
    uint64_t hash = tg__dedupe_hash(op, args, sl->args_size);
    tg__dedupe *e = &s->dedupe[hash & s->dedupe_mask];
    int queued = 0;
    pthread_mutex_lock(tg__dedupe_lock(s, hash));
    if (e->leader && e->hash == hash && tg__slot_at(s, e->leader - 1) != sl) {
        uint32_t word = TG__WORD(TG__LOAD_ACQUIRE(&tg__slot_at(s, e->leader - 1)->gw));
        queued = (word & TG__STATE_MASK) == (uint32_t)TG_ADMITTED && !(word & TG__W_LISTED);
    }
    pthread_mutex_unlock(tg__dedupe_lock(s, hash));
    return queued;
}

/* Can only the scheduler's own threads start token sl (word `word`)? It
   is queued, follows a queued dedupe leader, waits for its dependencies,
   or is set aside at its tier's cap (only the tier's running tokens make
   room). One held by a pause waits for a resume, which any thread may
   call. */
static int tg__needs_inside(tg_scheduler *s, tg__slot *sl, uint32_t word)
{
    if (word & TG__W_DEPS) return 1;
    if ((word & TG__STATE_MASK) != (uint32_t)TG_ADMITTED) return 0;
    if (!(word & TG__W_LISTED)) return 1;
    const tg_op *op = tg__slot_op(sl);
    if (op->io_tier && !TG__LOAD_RELAXED(&s->ops[TG__LOAD_RELAXED(&sl->opi)].paused) &&
        !TG__LOAD_RELAXED(&s->paused))
        return 1;
    return tg__leader_queued(s, sl);
}

/* A member needs the scheduler's threads to move (tg__needs_inside). */
static int tg__wait_needs_queue(tg__wait_set *ws)
{
    for (size_t i = TG__WAIT_FIRST(ws); i < ws->n; i++) {
        tg__slot *sl;
        uint64_t gw;
        if (!tg__wait_member(ws, i, &sl, &gw)) continue;
        if (tg__needs_inside(ws->s, sl, TG__WORD(gw))) return 1;
    }
    return 0;
}

/* What a task's wait has seen of a stall: since when (-1: none), the
   progress count then, and how long its next sleep lasts. */
typedef struct tg__stall_watch {
    int64_t since;
    uint64_t progress;
    int64_t nap_ns;
} tg__stall_watch;

#define TG__NAP_MIN_NS 1000000    /* a wait's first sleep between stall checks */
#define TG__NAP_MAX_NS 100000000  /* and its longest, without a core */

/* Past every limit, no silent hang: a wait that needs a queued token
   (`stuck`: tg__wait_needs_queue, say) while nothing in the scheduler can
   move (tg__stalled_now) and nothing has moved for TG__STALL_NS gets
   TG_EDEADLK. One look of such a wait: 1 once the stall has lasted. */
static int tg__stall_tick(tg_scheduler *s, int stuck, tg__stall_watch *sw)
{
    if (!stuck) {
        sw->since = -1;
        return 0;
    }
    int64_t now = tg__now_ns();
    uint64_t progress = tg__progress(s);
    if (sw->since < 0 || progress != sw->progress) {
        sw->since = now;
        sw->progress = progress;
        return 0;
    }
    return now - sw->since >= TG__STALL_NS;
}

/* The stall check of a wait for tokens. */
static int tg__wait_stalled(tg__wait_set *ws, tg__stall_watch *sw)
{
    return tg__stall_tick(ws->s, tg__stalled_now(ws->s) && tg__wait_needs_queue(ws), sw);
}

/* One sleep of a task's wait: its core goes to a spare (tg__block_begin),
   then it sleeps as an outside waiter does. Holding its core (no spare
   could be had), it wakes every millisecond to try again; without, its
   sleeps between stall checks grow from 1 to 100 ms. */
static int tg__wait_task_sleep(tg__wait_set *ws, tg__thread *t, int64_t deadline, tg__stall_watch *sw)
{
    tg_scheduler *s = ws->s;
    int64_t since = tg__block_begin(s, t);
    int kept = tg__tls_worker != NULL;
    int64_t nap = kept ? TG__NAP_MIN_NS : sw->nap_ns;
    if (!kept && sw->nap_ns < TG__NAP_MAX_NS) sw->nap_ns *= 2;
    int64_t until = tg__earlier(deadline, tg__now_ns() + nap);
    int r = ws->mode == TG__WAIT_ANY ? tg__wait_sleep_any(ws, until) : tg__wait_sleep_all(ws, until);
    /* still counted asleep: the check counts this thread as stuck */
    if (r == 0 && tg__wait_stalled(ws, sw)) r = TG_EDEADLK;
    tg__block_end(t, since);
    return r;
}

/* Inside a task: run the members it may run, else sleep (above). */
static int tg__wait_task(tg__wait_set *ws, tg__thread *t, int64_t deadline)
{
    tg__stall_watch sw = { -1, 0, TG__NAP_MIN_NS };
    /* only a wait for all, without a timeout, runs members beneath itself:
       a run there lasts as long as it lasts (a timed wait would overrun)
       and a wait for any could end before it (the run would hold the
       waiter's frame up, closing a cycle the caller never made); past the
       spares' limit, a wait for any without a timeout helps too */
    ws->scan = ws->n;
    for (;;) {
        int r = tg__wait_check(ws);
        if (r) return r < 0 ? r : TG_OK;
        if (deadline >= 0 && tg__now_ns() >= deadline) return TG_ETIMEDOUT;
        int helps = deadline < 0 && (ws->mode == TG__WAIT_ALL || tg__spares_exhausted(ws->s));
        r = helps ? tg__wait_help(ws, t) : 0;
        if (r < 0) return r;
        if (r) continue;
        /* a short spin: a member running elsewhere may be about to end */
        int64_t spin_until = tg__now_ns() + TG__TASK_SPIN_NS;
        while (!(r = tg__wait_check(ws)) && tg__now_ns() < spin_until)
            for (int i = 0; i < 32; i++) tg__cpu_relax();
        if (r) continue;
        if (tg__wait_on_own_stack(ws, t)) return TG_EDEADLK;
        r = tg__wait_task_sleep(ws, t, deadline, &sw);
        if (r < 0) return r;
        ws->scan = ws->n;
    }
}

static int tg__wait_run(tg__wait_set *ws, int64_t timeout_ns)
{
    /* every handle is checked before anything waits: a bad one behind a
       live one is reported at once */
    for (size_t i = 0; i < ws->n; i++) {
        uint32_t index;
        tg__slot *sl;
        int rc = tg__slot_lookup(ws->s, ws->tokens[i], &index, &sl, NULL);
        if (rc != TG_OK) return rc;
    }
    /* a task waiting on itself would never return */
    tg__thread *t = tg__task_thread(ws->s);
    if (t && tg__tls_slot)
        for (size_t i = 0; i < ws->n; i++)
            if (ws->tokens[i].bits == tg__tls_token) return TG_EDEADLK;
    if (timeout_ns == 0) {
        int r = tg__wait_check(ws);
        return r < 0 ? r : r ? TG_OK : TG_ETIMEDOUT;
    }
    int64_t deadline = tg__deadline_after(timeout_ns);
    return t ? tg__wait_task(ws, t, deadline) : tg__wait_blocking(ws, deadline);
}

TG_API int tg_poll(tg_scheduler *s, tg_token t, tg_state *state)
{
    if (!s || !state) return TG_EINVAL;
    int rc = tg__fork_check(s);
    if (rc != TG_OK) return rc;
    uint32_t index;
    uint64_t gw;
    tg__slot *sl;
    rc = tg__token_read(s, t, &index, &sl, &gw);
    if (rc != TG_OK) return rc;
    *state = (tg_state)TG__STATE(gw);
    return TG_OK;
}

TG_API int tg_wait(tg_scheduler *s, tg_token t, int64_t timeout_ns, tg_value *result)
{
    if (!s) return TG_EINVAL;
    int rc = tg__fork_check(s);
    if (rc != TG_OK) return rc;
    uint32_t index, gen = tg__token_gen(s, t);
    uint64_t gw;
    tg__slot *sl;
    rc = tg__token_read(s, t, &index, &sl, &gw);
    if (rc != TG_OK) return rc;
    if (!TG__IS_TERMINAL(TG__WORD(gw))) {
        /* inside a task of s (tg__tls_slot: inside some task) */
        tg__thread *th = tg__tls_slot ? tg__current_thread(s) : NULL;
        if (th && timeout_ns < 0) {
            /* inside a task: run the awaited token itself when it is
               queued (most often at the bottom of this core's deque: the
               child submitted last), re-reading only this slot */
            if (t.bits == tg__tls_token && tg__tls_slot) return TG_EDEADLK;
            while (tg__wait_take(s, th, index, sl, gw)) {
                gw = TG__LOAD_ACQUIRE(&sl->gw);
                if (TG__GEN(gw) != gen) return TG_ESTALE;
                if (TG__WORD(gw) & TG__W_DEADLINE) gw = tg__token_expire(s, index, sl, gen, gw);
                if (TG__IS_TERMINAL(TG__WORD(gw))) goto ended;
            }
        }
        tg__wait_set ws;
        ws.s = s;
        ws.tokens = &t;
        ws.n = 1;
        ws.mode = TG__WAIT_ALL;
        ws.done = ws.index = 0;
        ws.arm = 0;
        ws.error = 0;
        rc = tg__wait_run(&ws, timeout_ns);
        if (rc != TG_OK) return rc;
        rc = tg__token_read(s, t, &index, &sl, &gw);
        if (rc != TG_OK) return rc;
    }
ended:;
    tg_value v;
    v.u = TG__LOAD_RELAXED(&sl->result.u);
    if (TG__GEN(TG__LOAD_ACQUIRE(&sl->gw)) != gen) return TG_ESTALE;
    switch ((tg_state)TG__STATE(gw)) {
    case TG_COMPLETED: if (result) *result = v; return TG_OK;
    case TG_FAILED: return TG_EFAILED;
    case TG_TIMEOUT: return TG_EDEADLINE;
    default: return (TG__WORD(gw) & TG__W_DEPFAIL) ? TG_EDEPENDENCY : TG_EKILLED;
    }
}

TG_API int tg_wait_all(tg_scheduler *s, const tg_token *t, size_t n, int64_t timeout_ns)
{
    if (!s || (!t && n)) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    if (n == 0) return TG_OK;
    tg__wait_set ws;
    memset(&ws, 0, sizeof ws);
    ws.s = s;
    ws.tokens = t;
    ws.n = n;
    ws.mode = TG__WAIT_ALL;
    return tg__wait_run(&ws, timeout_ns);
}

TG_API int tg_wait_any(tg_scheduler *s, const tg_token *t, size_t n, int64_t timeout_ns, size_t *index)
{
    if (!s || !t || n == 0 || !index) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    tg__wait_set ws;
    memset(&ws, 0, sizeof ws);
    ws.s = s;
    ws.tokens = t;
    ws.n = n;
    ws.mode = TG__WAIT_ANY;
    int rc = tg__wait_run(&ws, timeout_ns);
    if (rc == TG_OK) *index = ws.index;
    return rc;
}

/* What tg_wait(..., 0, ...) says of an ended token, and its value. */
static int tg__outcome(tg_scheduler *s, tg_token t, tg_value *value)
{
    tg_value v;
    v.u = 0;
    int rc = tg_wait(s, t, 0, &v);
    if (rc == TG_ETIMEDOUT) rc = TG_EINVAL;   /* not ended: cannot be after a wait that returned */
    if (rc != TG_OK) v.u = 0;
    if (value) *value = v;
    return rc;
}

TG_API int tg_gather(tg_scheduler *s, const tg_token *t, size_t n, int64_t timeout_ns,
                     tg_value *values, int *codes)
{
    int rc = tg_wait_all(s, t, n, timeout_ns);
    if (rc != TG_OK) return rc;
    for (size_t i = 0; i < n; i++) {
        int code = tg__outcome(s, t[i], values ? &values[i] : NULL);
        if (codes) codes[i] = code;
    }
    return TG_OK;
}

/* Has tg_wait's code said the token ended? */
static int tg__wait_ended(int rc)
{
    return rc == TG_OK || rc == TG_EFAILED || rc == TG_EKILLED || rc == TG_EDEADLINE ||
           rc == TG_EDEPENDENCY;
}

TG_API int tg_wait_release(tg_scheduler *s, tg_token t, int64_t timeout_ns, tg_value *result)
{
    int rc = tg_wait(s, t, timeout_ns, result);
    if (tg__wait_ended(rc)) (void)tg_release(s, t);
    return rc;
}

TG_API int tg_gather_release(tg_scheduler *s, const tg_token *t, size_t n, int64_t timeout_ns,
                             tg_value *values, int *codes)
{
    int rc = tg_gather(s, t, n, timeout_ns, values, codes);
    if (rc == TG_OK)
        for (size_t i = 0; i < n; i++) (void)tg_release(s, t[i]);
    return rc;
}

/* No token is live, and none is half-way through its end. */
static int tg__idle_ready(void *ctx)
{
    tg_scheduler *s = (tg_scheduler *)ctx;
    return tg__live_count(s, NULL) == 0 && !tg__ending(s);
}

TG_API int tg_wait_idle(tg_scheduler *s, int64_t timeout_ns)
{
    if (!s) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    if (tg__current_thread(s)) return TG_EDEADLK;
    int64_t deadline = tg__deadline_after(timeout_ns);
    int64_t spin_until = tg__now_ns() + TG__WAIT_SPIN_NS;
    for (;;) {
        if (tg__idle_ready(s)) return TG_OK;
        int64_t now = tg__now_ns();
        if (deadline >= 0 && now >= deadline) return TG_ETIMEDOUT;
        if (now < spin_until) {
            for (int i = 0; i < 64; i++) tg__cpu_relax();
            continue;
        }
        tg__event_wait(&s->idle_event, tg__idle_ready, s, deadline, 10000000);
    }
}

static void tg__notify_reap(tg_scheduler *s);

TG_API int tg_release(tg_scheduler *s, tg_token t)
{
    if (!s) return TG_EINVAL;
    int rc = tg__fork_check(s);
    if (rc != TG_OK) return rc;
    uint32_t index, gen = tg__token_gen(s, t);
    uint64_t old, desired;
    tg__slot *sl;
    rc = tg__slot_lookup(s, t, &index, &sl, &old);
    if (rc != TG_OK) return rc;
    do {
        /* only one release of a generation wins: the generation moves with
           the flag, in one slot-word RMW */
        if (TG__GEN(old) != gen) return TG_ESTALE;
        desired = ((uint64_t)(gen + 1) << 32) | TG__WORD(old) | TG__W_RELEASED;
    } while (!TG__CAS(&sl->gw, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    /* wake anyone asleep on this handle: they will see it stale */
    tg__token_wake(s, sl, TG__WORD(old));
    if (TG__FREEABLE(TG__WORD(desired)) && !TG__FREEABLE(TG__WORD(old))) tg__slot_recycle(s, index);
    else if (TG__WORD(old) & TG__W_NOTIFY) tg__notify_reap(s);
    return TG_OK;
}

static void tg__domain_kill(tg_scheduler *s, uint32_t domain);

/* A kill of a domain's lead kills the domain too, once the lead's
   handle was checked (its slot's ref keeps the entry the lead's). */
static void tg__kill_led(tg_scheduler *s, tg_token t, tg__slot *sl)
{
    uint32_t domain = TG__LOAD_RELAXED(&sl->domain);
    if (domain && TG__LOAD_RELAXED(&s->domains[domain - 1].lead) == t.bits) tg__domain_kill(s, domain);
}

TG_API int tg_kill(tg_scheduler *s, tg_token t)
{
    if (!s) return TG_EINVAL;
    int rc = tg__fork_check(s);
    if (rc != TG_OK) return rc;
    uint32_t gen = tg__token_gen(s, t);
    for (int first = 1;; first = 0) {
        uint32_t index;
        uint64_t gw;
        tg__slot *sl;
        rc = tg__token_read(s, t, &index, &sl, &gw);
        if (rc != TG_OK) return rc;
        uint32_t word = TG__WORD(gw);
        if (first && (word & TG__W_DOMAIN)) tg__kill_led(s, t, sl);
        if (TG__IS_TERMINAL(word) || (word & TG__W_ENDING)) return TG_OK;   /* ended, or ending */
        if ((word & TG__STATE_MASK) == (uint32_t)TG_EXECUTING) {
            /* running: ask it to stop. Slot-word RMW with the generation;
               pairs with the worker's acquire load of the word after the
               function returns, and with tg_should_stop's */
            if ((word & TG__W_KILL) ||
                TG__CAS(&sl->gw, &gw, gw | TG__W_KILL, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return TG_OK;
            continue;
        }
        /* not started: it ends here unless a worker starts it first (then
           look again); the worker that pops it drops it */
        rc = tg__token_end(s, tg__current_worker(s), index, sl, gen, TG__FROM_QUEUED, TG_KILLED, 0);
        if (rc == 1) return TG_OK;
        if (rc < 0) return rc;
        if ((word & TG__STATE_MASK) == (uint32_t)TG_CREATED) sched_yield();   /* still being set up */
    }
}

/* Copies what tg_info reports from the slot (fields of generation gen as
   long as the state read before and after agree). */
static void tg__info_read(tg_scheduler *s, tg__slot *sl, uint64_t gw, tg_token_info *info)
{
    const tg_op *op = tg__slot_op(sl);
    uint32_t opi = TG__LOAD_RELAXED(&sl->opi);
    info->state = (tg_state)TG__STATE(gw);
    info->op = opi < s->cfg.max_ops ? s->ops[opi].name : "";
    info->weight = op ? op->weight : TG_MEDIUM;
    info->core = TG__SLOT_LOAD(&sl->core);
    info->retries = TG__SLOT_LOAD(&sl->retries);
    info->failure_code = TG__SLOT_LOAD(&sl->failure_code);
    info->created_ns = TG__SLOT_LOAD(&sl->created_ns);
    info->waiting_ns = TG__SLOT_LOAD(&sl->waiting_ns);
    info->admitted_ns = TG__SLOT_LOAD(&sl->admitted_ns);
    info->started_ns = TG__SLOT_LOAD(&sl->started_ns);
    info->ended_ns = TG__IS_TERMINAL(TG__WORD(gw)) ? TG__SLOT_LOAD(&sl->ended_ns) : 0;
    /* held_link holds it while the token is on no held list (tg__slot_blocked_add) */
    info->blocked_ns = (TG__WORD(gw) & TG__W_LISTED) ? 0 : (int64_t)TG__SLOT_LOAD(&sl->held_link) * 1000;
    /* a W_DEPFAIL token's result field names the dependency */
    info->dependency.bits = (TG__WORD(gw) & TG__W_DEPFAIL) ? TG__LOAD_RELAXED(&sl->result.u) : 0;
    info->seed[0] = '\0';
    uint32_t domain = TG__SLOT_LOAD(&sl->domain);
    if (domain) {
        uint8_t digest[32];
        for (unsigned b = 0; b < 32; b++) digest[b] = TG__LOAD_RELAXED(&s->domains[domain - 1].digest[b]);
        tg_sha256_hex(digest, info->seed);
    }
}

TG_API int tg_info(tg_scheduler *s, tg_token t, tg_token_info *info)
{
    if (!s || !info) return TG_EINVAL;
    int rc = tg__fork_check(s);
    if (rc != TG_OK) return rc;
    uint32_t index, gen = tg__token_gen(s, t);
    uint64_t gw;
    tg__slot *sl;
    rc = tg__slot_lookup(s, t, &index, &sl, &gw);
    if (rc != TG_OK) return rc;
    if (TG__WORD(gw) & TG__W_DEADLINE) gw = tg__token_expire(s, index, sl, gen, gw);
    /* a seqlock read: the fields, then the state again; read again while a
       move came in between (a few times at most: a token has few moves) */
    for (int attempt = 0;; attempt++) {
        if (TG__GEN(gw) != gen) return TG_ESTALE;
        tg__info_read(s, sl, gw, info);
        uint64_t again = TG__LOAD_ACQUIRE(&sl->gw);
        if (TG__GEN(again) != gen) return TG_ESTALE;
        uint32_t moved = ((TG__WORD(again) ^ TG__WORD(gw)) & (TG__STATE_MASK | TG__W_ENDING)) |
                         (TG__WORD(again) & TG__W_STAMPING);
        /* a worker stamps the start just after its move to EXECUTING */
        int unstamped = info->state == TG_EXECUTING &&
                        (!info->started_ns ||   /* as tg__start_stamped, on what was read */
                         (info->retries && info->started_ns < TG__LOAD_RELAXED(&sl->ended_ns)));
        if (!moved && !unstamped) return TG_OK;
        /* a token that keeps moving (retries): after 64 reads, this one;
           a worker between its move and its stamp: until it stamps (it
           runs straight-line code, but may be preempted in it) */
        if (attempt >= 64 && !(unstamped && attempt < 1000000)) return TG_OK;
        gw = again;
        if ((TG__WORD(gw) & (TG__W_ENDING | TG__W_STAMPING)) || unstamped) sched_yield();   /* between two stores */
    }
}
/* ------------------------------------------------------------------------ */
/* Groups: a scope's tokens and their descendants, waited for as one        */
/* ------------------------------------------------------------------------ */
/* >>groups */

/* A group counts its live members in one futex word. A token joins when it
   is published (tg__submit_publish): named by tg_group_submit, or
   inheriting the group of the task that submits it; it leaves when it
   ends (tg__token_settle) or is abandoned by its submitter. s->group_of[]
   names a member's group (W_GROUP in its word). A group made inside a
   member's task is that group's child: while it has members it counts as
   one member of its parent, so the parent's wait covers every descendant,
   and a cancel reaches down through every child (tg__group_stopped).
   Lifetime: refs counts the owner (until tg_group_destroy), one while
   members are live and one per child group. At 0 the group goes back to
   the scheduler's pool, not to the allocator (freed by tg_destroy): a
   reader that races an end (a sweep, a wait's look at its deque) may read
   a recycled group but never freed memory, and checks the token's
   generation again before it acts. */

#define TG__GROUP_WAITER 0x80000000u   /* live: a thread sleeps on the word */
#define TG__GROUP_COUNT  0x7fffffffu   /* live: members, child groups with members */

struct tg_group {
    tg_scheduler *s;
    struct tg_group *parent;   /* the group of the task that made it, or NULL
                                  (atomic: a racing reader may see it reused) */
    struct tg_group *next;     /* the pool's free list */
    struct tg_group *all;      /* every group the scheduler made (tg_destroy) */
    uint32_t live;             /* futex word: TG__GROUP_COUNT | TG__GROUP_WAITER */
    uint32_t refs;
    uint32_t cancelled;        /* cancelled or destroyed: members do not start */
    uint32_t open;             /* between create and destroy */
    int32_t error;             /* the first member's end other than TG_OK */
    uint64_t joined, ended;    /* members since creation (the monitor) */
    uint64_t id;               /* 1, 2, ... in creation order (group_lock) */
    uint32_t level;            /* 0 for a group without a parent, else the
                                  parent's + 1 (atomic, as parent) */
};

/* The member table, made with the first group (NULL: TG_ENOMEM). */
static tg_group **tg__group_table(tg_scheduler *s)
{
    tg_group **t = TG__LOAD_ACQUIRE(&s->group_of);
    if (t) return t;
    pthread_mutex_lock(&s->group_lock);
    t = TG__LOAD_RELAXED(&s->group_of);
    if (!t) {
        t = (tg_group **)tg__alloc_zero(s, sizeof(tg_group *) * s->slot_capacity);
        /* release: the zeroed table before its pointer; pairs with the
           acquire in tg__group_of */
        if (t) TG__STORE_RELEASE(&s->group_of, t);
    }
    pthread_mutex_unlock(&s->group_lock);
    return t;
}

/* The group of member `index` (its word has W_GROUP: the table exists).
   Relaxed: written before the release store that published the token. */
static inline tg_group *tg__group_of(tg_scheduler *s, uint32_t index)
{
    return TG__LOAD_RELAXED(&TG__LOAD_ACQUIRE(&s->group_of)[index]);
}

/* Is m the group g or one of its descendants? Only m's ancestors below
   g's level can lead to g: the walk stops there (a group an ancestor of
   g, as the groups of a waiter's own stack mostly are, is refused at
   once, whatever the depth of the nesting). */
static int tg__group_within(const tg_group *m, const tg_group *g)
{
    uint32_t top = TG__LOAD_RELAXED(&g->level);
    for (uint32_t steps = m ? TG__LOAD_RELAXED(&m->level) : 0; m && steps > top; steps--)
        m = TG__LOAD_RELAXED(&m->parent);
    return m == g;
}

/* Was m, or a group it descends from, cancelled? Acquire: pairs with the
   seq_cst store in tg__group_cancel. */
static int tg__group_stopped(const tg_group *m)
{
    for (; m; m = TG__LOAD_RELAXED(&m->parent))
        if (TG__LOAD_ACQUIRE(&m->cancelled)) return 1;
    return 0;
}

/* The group of the task running on this thread, if it is a task of s in
   one (what its submissions and its new groups inherit). */
static tg_group *tg__group_current(tg_scheduler *s)
{
    tg__slot *sl = tg__tls_slot;
    if (!sl || !tg__task_thread(s) || !TG__LOAD_ACQUIRE(&s->group_of)) return NULL;
    if (!(TG__WORD(TG__LOAD_RELAXED(&sl->gw)) & TG__W_GROUP)) return NULL;
    return tg__group_of(s, (uint32_t)tg__tls_token & TG__INDEX_MASK);
}

/* Drops one reference; the last returns the group to the pool and drops
   its reference on its parent. */
static void tg__group_unref(tg_group *g)
{
    while (g) {
        /* acq_rel: every use of the group before it is reused */
        if (TG__FETCH_SUB(&g->refs, 1u) != 1u) return;
        tg_scheduler *s = g->s;
        tg_group *parent = TG__LOAD_RELAXED(&g->parent);
        pthread_mutex_lock(&s->group_lock);
        g->next = s->group_pool;
        s->group_pool = g;
        pthread_mutex_unlock(&s->group_lock);
        g = parent;
    }
}

/* A member joins g: the first of a group with none takes the non-empty
   reference and joins its parent in turn. Only a live member of g (or its
   owner) adds to g, so a group whose owner has let go never refills. */
static void tg__group_join(tg_group *g)
{
    while (g) {
        /* relaxed: the member is published afterwards by a release store */
        (void)TG__FETCH_ADD_RELAXED(&g->joined, 1u);   /* a statistic */
        /* acq_rel: part of the count's release sequence that a waiter's
           acquire load reads (tg__group_empty) */
        uint32_t old = TG__FETCH_ADD(&g->live, 1u);
        if (old & TG__GROUP_COUNT) return;
        /* relaxed: the owner's reference keeps it above 0 meanwhile */
        (void)TG__FETCH_ADD_RELAXED(&g->refs, 1u);
        g = TG__LOAD_RELAXED(&g->parent);
    }
}

/* A member leaves g (after its terminal move): the last wakes g's waiters,
   drops the non-empty reference (no touch of g after it) and leaves the
   parent, which g's count kept non-empty until then. */
static void tg__group_leave(tg_group *g)
{
    while (g) {
        (void)TG__FETCH_ADD_RELAXED(&g->ended, 1u);   /* a statistic */
        uint32_t old = TG__LOAD_RELAXED(&g->live), desired;   /* the CAS below orders */
        do {
            desired = (old & TG__GROUP_COUNT) == 1u ? 0u : old - 1u;
            /* acq_rel: the member's end before a waiter's look at the
               count (the RMWs form one release sequence) */
        } while (!TG__CAS(&g->live, &old, desired, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
        if (desired) return;
        if (old & TG__GROUP_WAITER) tg__futex_wake(&g->live, INT_MAX);
        tg_group *parent = TG__LOAD_RELAXED(&g->parent);
        tg__group_unref(g);
        g = parent;
    }
}

/* Member `index` ended in state `final` (word: its word before the move). */
static void tg__group_ended(tg_group *g, tg_state final, uint32_t word)
{
    int code = final == TG_COMPLETED ? TG_OK : final == TG_FAILED ? TG_EFAILED
             : final == TG_TIMEOUT ? TG_EDEADLINE : (word & TG__W_DEPFAIL) ? TG_EDEPENDENCY : TG_EKILLED;
    int32_t none = 0;
    /* relaxed: the leave's release publishes it */
    if (code != TG_OK) (void)TG__CAS(&g->error, &none, code, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    tg__group_leave(g);
}

/* A submission's group: the task's (inherited), unless it was cancelled:
   TG_EKILLED, nothing submitted. */
static int tg__group_inherit(tg__submission *sub)
{
    sub->group = tg__group_current(sub->s);
    return sub->group && tg__group_stopped(sub->group) ? TG_EKILLED : TG_OK;
}

/* The member is published with its group: joined before anyone sees it. */
static void tg__group_admit(tg__submission *sub)
{
    TG__STORE_RELAXED(&TG__LOAD_ACQUIRE(&sub->s->group_of)[sub->index], sub->group);
    tg__group_join(sub->group);
    sub->word |= TG__W_GROUP;
}

/* Kills the live token of slot `index` in generation gen as tg_kill does:
   unstarted, it ends KILLED; running, it is asked to stop. */
static void tg__kill_slot(tg_scheduler *s, uint32_t index, tg__slot *sl, uint32_t gen)
{
    for (;;) {
        uint64_t gw = TG__LOAD_ACQUIRE(&sl->gw);
        uint32_t word = TG__WORD(gw);
        if (TG__GEN(gw) != gen || TG__IS_TERMINAL(word) || (word & TG__W_ENDING)) return;
        if ((word & TG__STATE_MASK) == (uint32_t)TG_EXECUTING) {
            /* slot-word RMW with the generation, as tg_kill's */
            if ((word & TG__W_KILL) ||
                TG__CAS(&sl->gw, &gw, gw | TG__W_KILL, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return;
            continue;
        }
        int rc = tg__token_end(s, tg__current_worker(s), index, sl, gen, TG__FROM_QUEUED, TG_KILLED, 0);
        if (rc != 0) return;
        if ((word & TG__STATE_MASK) == (uint32_t)TG_CREATED) sched_yield();   /* still being set up */
    }
}

typedef void (*tg__slot_fn)(tg_scheduler *, uint32_t, tg__slot *, uint32_t, void *);

/* Calls fn on every live token whose word has `flag` and that in(s, index,
   slot, key) accepts (a group's members, a domain's). What in() reads is
   checked again after it: the same generation, still live, so it was the
   token's. */
static void tg__live_each(tg_scheduler *s, uint32_t flag, int (*in)(tg_scheduler *, uint32_t, tg__slot *, const void *),
                          const void *key, tg__slot_fn fn, void *ctx)
{
    uint32_t fresh = TG__LOAD_ACQUIRE(&s->fresh);
    if (fresh > s->slot_capacity) fresh = s->slot_capacity;
    for (uint32_t i = 0; i < fresh; i++) {
        if (!TG__LOAD_ACQUIRE(&s->chunks[i >> TG__CHUNK_SHIFT])) continue;
        tg__slot *sl = tg__slot_at(s, i);
        uint64_t gw = TG__LOAD_ACQUIRE(&sl->gw);
        uint32_t word = TG__WORD(gw);
        if (!(word & flag) || TG__IS_TERMINAL(word)) continue;
        int accepted = in(s, i, sl, key);
        uint64_t again = TG__LOAD_ACQUIRE(&sl->gw);
        if (!accepted || TG__GEN(again) != TG__GEN(gw) || TG__IS_TERMINAL(TG__WORD(again))) continue;
        fn(s, i, sl, TG__GEN(gw), ctx);
    }
}

static int tg__in_group(tg_scheduler *s, uint32_t index, tg__slot *sl, const void *g)
{
    TG__UNUSED(sl);
    return tg__group_within(tg__group_of(s, index), (const tg_group *)g);
}

static int tg__in_domain(tg_scheduler *s, uint32_t index, tg__slot *sl, const void *domain)
{
    TG__UNUSED(s);
    TG__UNUSED(index);
    return TG__LOAD_RELAXED(&sl->domain) == *(const uint32_t *)domain;
}

/* Calls fn on every live member of g or of its descendants. */
static void tg__group_each(tg_group *g, tg__slot_fn fn, void *ctx)
{
    tg__live_each(g->s, TG__W_GROUP, tg__in_group, g, fn, ctx);
}

static void tg__kill_one(tg_scheduler *s, uint32_t index, tg__slot *sl, uint32_t gen, void *ctx)
{
    TG__UNUSED(ctx);
    tg__kill_slot(s, index, sl, gen);
}

/* Kills a domain whose lead was killed: no member starts from here (the
   gate, a wait's take and tg_should_stop check tg__domain_killed), and
   the live ones are killed. A member that is a lead itself heads a domain
   of its own, untouched (a group covers any tree). */
static void tg__domain_kill(tg_scheduler *s, uint32_t domain)
{
    /* seq_cst: before the sweep's reads, as in tg__group_cancel */
    TG__STORE_SEQ_CST(&s->domains[domain - 1].killed, 1u);
    tg__live_each(s, TG__W_DOMAIN, tg__in_domain, &domain, tg__kill_one, NULL);
}


/* Cancel: no member of g or of a descendant starts from here (the gate
   and a wait's take check tg__group_stopped; a task inside one gets
   TG_EKILLED from a submission), and the live ones are killed. */
static void tg__group_cancel(tg_group *g)
{
    /* seq_cst: before the sweep's reads; a member the sweep misses (still
       being published) is stopped at the gate */
    TG__STORE_SEQ_CST(&g->cancelled, 1u);
    tg__group_each(g, tg__kill_one, NULL);
}

/* ---- waiting for a group ---- */

static void tg__group_queued_one(tg_scheduler *s, uint32_t index, tg__slot *sl, uint32_t gen, void *ctx)
{
    TG__UNUSED(index);
    TG__UNUSED(gen);
    if (tg__needs_inside(s, sl, TG__WORD(TG__LOAD_ACQUIRE(&sl->gw)))) *(int *)ctx = 1;
}

/* Past every limit, no silent hang (as tg__wait_stalled): a member waits
   in a queue while nothing in the scheduler can move, for TG__STALL_NS. */
static int tg__group_stalled(tg_group *g, tg__stall_watch *sw)
{
    int queued = 0;
    if (tg__stalled_now(g->s)) tg__group_each(g, tg__group_queued_one, &queued);
    return tg__stall_tick(g->s, queued, sw);
}

static inline int tg__group_empty(tg_group *g)
{
    /* acquire: the members' ends are visible once the count is 0 */
    return !(TG__LOAD_ACQUIRE(&g->live) & TG__GROUP_COUNT);
}

/* One sleep on the count until `deadline` (flagged: the last leaver wakes). */
static void tg__group_sleep(tg_group *g, int64_t deadline)
{
    uint32_t v = TG__LOAD_ACQUIRE(&g->live);
    if (!(v & TG__GROUP_COUNT)) return;
    if (!(v & TG__GROUP_WAITER)) {
        if (!TG__CAS(&g->live, &v, v | TG__GROUP_WAITER, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return;
        v |= TG__GROUP_WAITER;
    }
    (void)tg__futex_wait(&g->live, v, deadline);
}

/* The owner's bottom entry, if any (the owner alone pushes and pops). */
static inline int tg__deque_peek(tg__deque *d, uint64_t *item)
{
    int64_t b = TG__LOAD_RELAXED(&d->bottom) - 1;
    if (b < TG__LOAD_RELAXED(&d->top)) return 0;
    *item = TG__LOAD_RELAXED(&d->items[b & (TG__DEQUE_CAPACITY - 1)]);
    return 1;
}

/* A task's wait for g runs a member at the bottom of its core's deque
   (most often the one it submitted last) beneath itself: safe, as for
   tg_wait, since the wait waits for it. 1 if it ran one. */
static int tg__group_help(tg_group *g, tg__thread *t)
{
    tg_scheduler *s = g->s;
    tg__worker *w = tg__current_worker(s);
    uint64_t item;
    if (!w || !tg__deque_peek(&w->deque, &item)) return 0;
    uint32_t index = TG__ENTRY_INDEX(item);
    tg__slot *sl = tg__slot_at(s, index);
    uint64_t gw = TG__LOAD_ACQUIRE(&sl->gw);
    if (!(TG__WORD(gw) & TG__W_GROUP) || TG__PAIR(TG__GEN(gw)) != TG__ENTRY_PAIR(item)) return 0;
    /* a token that ended meanwhile leaves a void entry: the gate drops it */
    if (!tg__group_within(tg__group_of(s, index), g)) return 0;
    return tg__wait_pop(s, t, item);
}

/* Inside a task: run members from the deque, else spin briefly, then
   sleep with the core handed to a spare (as tg__wait_task_sleep). */
static int tg__group_wait_task(tg_group *g, tg__thread *t, int64_t deadline)
{
    tg_scheduler *s = g->s;
    tg__stall_watch sw = { -1, 0, TG__NAP_MIN_NS };
    for (;;) {
        if (tg__group_empty(g)) return TG_OK;
        if (tg__expired(deadline)) return TG_ETIMEDOUT;
        if (deadline < 0 && tg__group_help(g, t)) continue;   /* as tg__wait_task */
        int64_t spin_until = tg__now_ns() + TG__TASK_SPIN_NS;
        while (!tg__group_empty(g) && tg__now_ns() < spin_until)
            for (int i = 0; i < 32; i++) tg__cpu_relax();
        if (tg__group_empty(g)) return TG_OK;
        int64_t since = tg__block_begin(s, t);
        int kept = tg__tls_worker != NULL;
        int64_t nap = kept ? TG__NAP_MIN_NS : sw.nap_ns;
        if (!kept && sw.nap_ns < TG__NAP_MAX_NS) sw.nap_ns *= 2;
        tg__group_sleep(g, tg__earlier(deadline, tg__now_ns() + nap));
        /* still counted asleep: the check counts this thread as stuck */
        int stalled = !tg__group_empty(g) && tg__group_stalled(g, &sw);
        tg__block_end(t, since);
        if (stalled) return TG_EDEADLK;
    }
}

/* Outside a task: spin briefly, then sleep on the count. */
static int tg__group_wait_outside(tg_group *g, int64_t deadline)
{
    for (int i = 0; i < 256 && !tg__group_empty(g); i++) tg__cpu_relax();
    while (!tg__group_empty(g)) {
        if (tg__expired(deadline)) return TG_ETIMEDOUT;
        tg__group_sleep(g, deadline);
    }
    return TG_OK;
}

/* Would a wait for g from this thread wait on itself: a function on its
   stack is a member of g or of a descendant (it cannot end first)? */
static int tg__group_waits_self(tg_group *g, tg__thread *t)
{
    tg_scheduler *s = g->s;
    unsigned n = t->depth < s->depth_hard ? t->depth : s->depth_hard;
    for (unsigned k = 0; k < n; k++) {
        uint32_t index = (uint32_t)t->stack_tokens[k] & TG__INDEX_MASK;
        uint64_t gw = TG__LOAD_ACQUIRE(&tg__slot_at(s, index)->gw);
        if ((TG__WORD(gw) & TG__W_GROUP) && tg__group_within(tg__group_of(s, index), g)) return 1;
    }
    return 0;
}

/* ---- the API ---- */

/* A group in use: made by tg_group_create, not destroyed. */
static inline int tg__group_ok(const tg_group *g)
{
    /* acquire: pairs with tg_group_create's release store of open */
    return g && TG__LOAD_ACQUIRE(&g->open) && tg__fork_check(g->s) == TG_OK;
}

TG_API int tg_group_create(tg_scheduler *s, tg_group **out)
{
    if (!s || !out) return TG_EINVAL;
    *out = NULL;
    int rc = tg__fork_check(s);
    if (rc != TG_OK) return rc;
    if (!tg__group_table(s)) return TG_ENOMEM;
    pthread_mutex_lock(&s->group_lock);
    tg_group *g = s->group_pool;
    if (g) {
        s->group_pool = g->next;
        g->id = ++s->group_serial;
    }
    pthread_mutex_unlock(&s->group_lock);
    if (!g) {
        g = (tg_group *)tg__alloc(s, sizeof *g);
        if (!g) return TG_ENOMEM;
        TG__STORE_RELAXED(&g->open, 0u);   /* not listed as open before it is */
        pthread_mutex_lock(&s->group_lock);
        g->all = s->groups;
        s->groups = g;
        g->id = ++s->group_serial;
        pthread_mutex_unlock(&s->group_lock);
    }
    tg_group *parent = tg__group_current(s);
    /* relaxed: the running member keeps the parent's count, so its refs, above 0 */
    if (parent) (void)TG__FETCH_ADD_RELAXED(&parent->refs, 1u);
    g->s = s;
    TG__STORE_RELAXED(&g->parent, parent);   /* read by racing sweeps too */
    TG__STORE_RELAXED(&g->level, parent ? TG__LOAD_RELAXED(&parent->level) + 1u : 0u);
    g->next = NULL;
    TG__STORE_RELAXED(&g->live, 0u);
    TG__STORE_RELAXED(&g->refs, 1u);
    TG__STORE_RELAXED(&g->cancelled, 0u);
    TG__STORE_RELAXED(&g->error, 0);
    TG__STORE_RELAXED(&g->joined, (uint64_t)0);
    TG__STORE_RELAXED(&g->ended, (uint64_t)0);
    /* release: the fields above before a use of the group */
    TG__STORE_RELEASE(&g->open, 1u);
    *out = g;
    return TG_OK;
}

TG_API int tg_group_submit(tg_group *g, const tg_op *op, const void *args, size_t args_size, tg_token *out)
{
    if (out) *out = TG_TOKEN_NONE;
    if (!tg__group_ok(g)) return TG_EINVAL;
    tg__submission sub;
    int rc = tg__submit_prepare(&sub, g->s, op, args, args_size, -1);
    if (rc != TG_OK) return rc;
    if (tg__group_stopped(g)) return TG_EKILLED;
    sub.group = g;
    sub.args = args;
    sub.out = out;
    return tg__submit_one(&sub);
}

TG_API int tg_group_wait(tg_group *g, int64_t timeout_ns)
{
    if (!tg__group_ok(g)) return TG_EINVAL;
    tg__thread *t = tg__task_thread(g->s);
    if (t && tg__group_waits_self(g, t)) return TG_EDEADLK;
    int rc;
    if (timeout_ns == 0) rc = tg__group_empty(g) ? TG_OK : TG_ETIMEDOUT;
    else {
        int64_t deadline = tg__deadline_after(timeout_ns);
        rc = t ? tg__group_wait_task(g, t, deadline) : tg__group_wait_outside(g, deadline);
    }
    return rc == TG_OK ? TG__LOAD_RELAXED(&g->error) : rc;
}

TG_API int tg_group_cancel(tg_group *g)
{
    if (!tg__group_ok(g)) return TG_EINVAL;
    tg__group_cancel(g);
    return TG_OK;
}

TG_API void tg_group_destroy(tg_group *g)
{
    if (!tg__group_ok(g)) return;
    if (!tg__group_empty(g)) tg__group_cancel(g);
    else TG__STORE_SEQ_CST(&g->cancelled, 1u);   /* a late submission is refused; as tg__group_cancel */
    TG__STORE_RELEASE(&g->open, 0u);   /* pairs with the acquire in tg__group_ok */
    tg__group_unref(g);
}

/* ---- a scope stopped by its id (the monitor's kill-group, kill-domain) ---- */
#ifdef TOKENGATE_MONITOR
/* A ref on entry `domain` while it is open and led by `lead` (the
   monitor's kill, which holds no member): 1 if taken (tg__domain_unref
   gives it back). acquire: see tg__domain_unref. */
static int tg__domain_hold(tg_scheduler *s, uint32_t domain, uint64_t lead)
{
    tg__domain *d = &s->domains[domain - 1];
    uint64_t old = TG__LOAD_RELAXED(&d->counts);
    do {
        if ((old >> 32) == 0) return 0;
    } while (!TG__CAS(&d->counts, &old, old + 1u, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED));
    if (TG__LOAD_RELAXED(&d->lead) == lead) return 1;
    tg__domain_unref(s, domain);
    return 0;
}


/* A decimal id of 1 .. UINT64_MAX, all of `text`; 0 if not one. */
static uint64_t tg__scope_id(const char *text)
{
    uint64_t v = 0;
    if (!*text) return 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9' || v > (UINT64_MAX - (uint64_t)(*c - '0')) / 10) return 0;
        v = v * 10 + (uint64_t)(*c - '0');
    }
    return v;
}

/* Cancels the open group of that id (as tg_group_cancel): TG_OK, TG_ESTALE
   (none open), TG_EINVAL (not an id). A reference taken under the lock
   keeps it from reuse while the cancel runs outside the lock (its sweep's
   ends may give a group back, which takes the lock). */
static int tg__group_kill_id(tg_scheduler *s, const char *id_text)
{
    uint64_t id = tg__scope_id(id_text);
    if (!id) return TG_EINVAL;
    tg_group *found = NULL;
    pthread_mutex_lock(&s->group_lock);
    for (tg_group *g = s->groups; g && !found; g = g->all) {
        if (g->id != id || !TG__LOAD_ACQUIRE(&g->open)) continue;
        uint32_t refs = TG__LOAD_RELAXED(&g->refs);
        /* acquire: as any use of the group; only while it is referenced */
        while (refs && !TG__CAS(&g->refs, &refs, refs + 1u, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) { }
        if (refs) found = g;
    }
    pthread_mutex_unlock(&s->group_lock);
    if (!found) return TG_ESTALE;
    tg__group_cancel(found);
    tg__group_unref(found);
    return TG_OK;
}

/* Kills the open domain led by the token of that handle value (as a
   tg_kill of its lead does to its members; the lead's handle may already
   be released): TG_OK, TG_ESTALE (none open), TG_EINVAL (not an id). */
static int tg__domain_kill_lead(tg_scheduler *s, const char *lead_text)
{
    uint64_t lead = tg__scope_id(lead_text);
    if (!lead) return TG_EINVAL;
    for (uint32_t i = 0; i < s->cfg.max_domains; i++) {
        if (TG__LOAD_RELAXED(&s->domains[i].lead) != lead || !tg__domain_hold(s, i + 1, lead)) continue;
        tg__domain_kill(s, i + 1);
        tg__domain_unref(s, i + 1);
        return TG_OK;
    }
    return TG_ESTALE;
}
#endif /* TOKENGATE_MONITOR */

/* tg_destroy: every group's memory (the user destroys groups first). */
static void tg__groups_free(tg_scheduler *s)
{
    for (tg_group *g = s->groups, *next; g; g = next) {
        next = g->all;
        tg__free(s, g, sizeof *g);
    }
    s->groups = s->group_pool = NULL;
    if (s->group_of) tg__free(s, s->group_of, sizeof(tg_group *) * s->slot_capacity);
    s->group_of = NULL;
    pthread_mutex_destroy(&s->group_lock);
}

/* ------------------------------------------------------------------------ */
/* Completion fd                                                            */
/* ------------------------------------------------------------------------ */
/* >>notify */

TG_API int tg_completion_fd(tg_scheduler *s)
{
    if (!s) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    return s->event_fd;
}

/* Under notify_lock: moves the tokens the workers pushed (newest first)
   to the end of the consumers' FIFO. */
static void tg__notify_gather(tg_scheduler *s)
{
    /* acquire: pairs with the release CAS in tg__notify_push */
    uint32_t head = TG__EXCHANGE(&s->notify_head, 0u);
    /* the list is newest first: reverse it and append to the FIFO */
    uint32_t reversed = 0, last = head;
    while (head) {
        tg__slot *sl = tg__slot_at(s, head - 1);
        uint32_t next = TG__LOAD_RELAXED(&sl->link);
        TG__STORE_RELAXED(&sl->link, reversed);
        reversed = head;
        head = next;
    }
    if (reversed) {
        if (s->notify_last) TG__STORE_RELAXED(&tg__slot_at(s, s->notify_last - 1)->link, reversed);
        else s->notify_first = reversed;
        s->notify_last = last;
    }
}

/* Takes the slot out of the completion list, reporting its handle into
   out (unless released), and frees it if nothing else holds it. */
static void tg__notify_unhold(tg_scheduler *s, uint32_t index, tg__slot *sl, tg_token *out, size_t *count)
{
    /* a slot-word RMW: it decides, with tg_release's, who frees */
    tg__list_leave(s, index, TG__LIST_NOTIFY);
    uint64_t gw = TG__FETCH_AND(&sl->gw, ~(uint64_t)TG__W_NOTIFY);
    uint32_t gen = TG__GEN(gw), old = TG__WORD(gw), now = old & ~TG__W_NOTIFY;
    if (out && !(old & TG__W_RELEASED) && (gen & 1u)) out[(*count)++] = tg__make_token(s, index, gen);
    if (TG__FREEABLE(now) && !TG__FREEABLE(old)) tg__slot_recycle(s, index);
}

/* A handle of an ended notify token was released before tg_completions
   reported it: its slot leaves the completion list now, so it is free at
   once (the list is walked: the cost of releasing undrained handles). */
static void tg__notify_reap(tg_scheduler *s)
{
    pthread_mutex_lock(&s->notify_lock);
    tg__notify_gather(s);
    uint32_t prev = 0, at = s->notify_first;
    while (at) {
        tg__slot *sl = tg__slot_at(s, at - 1);
        uint32_t next = TG__LOAD_RELAXED(&sl->link);
        if (TG__WORD(TG__LOAD_ACQUIRE(&sl->gw)) & TG__W_RELEASED) {
            if (prev) TG__STORE_RELAXED(&tg__slot_at(s, prev - 1)->link, next);
            else s->notify_first = next;
            if (s->notify_last == at) s->notify_last = prev;
            tg__notify_unhold(s, at - 1, sl, NULL, NULL);
        } else {
            prev = at;
        }
        at = next;
    }
    pthread_mutex_unlock(&s->notify_lock);
}

TG_API size_t tg_completions(tg_scheduler *s, tg_token *out, size_t cap)
{
    if (!s || !out || cap == 0 || tg__fork_check(s) != TG_OK) return 0;
    size_t count = 0;
    pthread_mutex_lock(&s->notify_lock);
    uint64_t drained;
    ssize_t rd = read(s->event_fd, &drained, sizeof drained); /* reset before taking */
    TG__UNUSED(rd);
    tg__notify_gather(s);
    while (count < cap && s->notify_first) {
        uint32_t index = s->notify_first - 1;
        tg__slot *sl = tg__slot_at(s, index);
        uint32_t next = TG__LOAD_RELAXED(&sl->link);
        s->notify_first = next;
        if (!next) s->notify_last = 0;
        tg__notify_unhold(s, index, sl, out, &count);
    }
    if (s->notify_first) {
        uint64_t one = 1;
        ssize_t wr = write(s->event_fd, &one, sizeof one);
        TG__UNUSED(wr);
    }
    pthread_mutex_unlock(&s->notify_lock);
    return count;
}

/* ------------------------------------------------------------------------ */
/* Inside a task                                                            */
/* ------------------------------------------------------------------------ */
/* >>task */

TG_API tg_token tg_self(void)
{
    tg_token t;
    t.bits = tg__tls_slot ? tg__tls_token : 0;
    return t;
}

TG_API tg_scheduler *tg_current_scheduler(void)
{
    tg__thread *t = tg__tls_thread;
    return t && tg__tls_slot ? t->sched : NULL;
}

TG_API int tg_current_core(void)
{
    tg__thread *t = tg__tls_thread;
    return t && t->home ? (int)t->home->index : -1;
}

TG_API int tg_should_stop(void)
{
    tg__thread *t = tg__tls_thread;
    if (t && tg__tls_slot) {
        tg__slot *sl = tg__tls_slot;
        tg_scheduler *s = t->sched;
        if (TG__LOAD_RELAXED(&sl->epoch) < TG__LOAD_ACQUIRE(&s->ops[TG__LOAD_RELAXED(&sl->opi)].kill_mark))
            return 1;
        /* the stamp clock, as the worker's return stamp: a function that
           saw its deadline pass returns past it (same thread, stamps never
           go back) */
        if ((TG__WORD(TG__LOAD_RELAXED(&sl->gw)) & TG__W_DEADLINE) && tg__stamp_ns() >= tg__token_deadline(sl))
            return 1;
    }
    if (!tg__tls_slot || !t) return 0;
    uint32_t word = TG__WORD(TG__LOAD_ACQUIRE(&tg__tls_slot->gw));
    if ((word & TG__W_KILL) || TG__IS_TERMINAL(word)) return 1;
    if ((word & TG__W_GROUP) &&
        tg__group_stopped(tg__group_of(t->sched, (uint32_t)tg__tls_token & TG__INDEX_MASK)))
        return 1;
    if ((word & TG__W_DOMAIN) && tg__domain_killed(t->sched, tg__tls_slot)) return 1;
    return TG__LOAD_ACQUIRE(&t->sched->cancelling) != 0;
}

/* A blocking section of the running task: its core goes to a spare until
   the section ends (the task runs on without a core after it, until it
   returns). Sections nest; only the outermost one counts. */
TG_API int tg_blocking_begin(void)
{
    tg__thread *t = tg__tls_thread;
    if (!t || !tg__tls_slot) return TG_OK;   /* outside a task: nothing to do */
    if (t->section_depth && t->section_frame != t->depth) return TG_EINVAL;
    if (t->section_depth++ == 0) {
        t->section_frame = t->depth;
        t->section_since = tg__block_begin(t->sched, t);
    }
    return TG_OK;
}

/* TG_EINVAL without a section of this task open. */
TG_API int tg_blocking_end(void)
{
    tg__thread *t = tg__tls_thread;
    if (!t || !tg__tls_slot) return TG_OK;
    if (t->section_depth == 0 || t->section_frame != t->depth) return TG_EINVAL;
    if (--t->section_depth == 0) tg__block_end(t, t->section_since);
    return TG_OK;
}

/* ------------------------------------------------------------------------ */
/* Control: global and per-op pause, drain, kill, unblock                   */
/* ------------------------------------------------------------------------ */
/* >>control */

static void tg__unpause(tg_scheduler *s)
{
    TG__STORE_SEQ_CST(&s->paused, 0u);
    tg__wake_all_workers(s);
}

TG_API int tg_pause(tg_scheduler *s)
{
    if (!s) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    if (!TG__LOAD_SEQ_CST(&s->accepting)) return TG_ESHUTDOWN;
    /* seq_cst store, then seq_cst load of accepting: against tg_shutdown's
       seq_cst store of accepting, then of paused. Either this sees the
       shutdown and takes the pause back, or the shutdown's unpause comes
       after this store. (Workers read paused with acquire.) */
    TG__STORE_SEQ_CST(&s->paused, 1u);
    if (!TG__LOAD_SEQ_CST(&s->accepting)) {
        tg__unpause(s);
        return TG_ESHUTDOWN;
    }
    return TG_OK;
}

TG_API int tg_resume(tg_scheduler *s)
{
    if (!s) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    if (!TG__LOAD_SEQ_CST(&s->accepting)) return TG_ESHUTDOWN;
    tg__unpause(s);
    return TG_OK;
}

/* Calls fn for every entry of an op named `name`: TG_ENOOP if none. */
/* Calls fn for the entry of the op named `name`: its result, or
   TG_ENOOP if the name was never submitted. */
static int tg__op_each(tg_scheduler *s, const char *name, int (*fn)(tg_scheduler *, uint32_t))
{
    if (!s || !name) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    if (!TG__LOAD_SEQ_CST(&s->accepting)) return TG_ESHUTDOWN;
    uint32_t at;
    uint32_t cell = tg__op_find(s, name, &at);
    return cell ? fn(s, cell - 1) : TG_ENOOP;
}

/* A pause is set under the op's lock, and only while the scheduler is
   accepting: tg_shutdown clears accepting before it lifts every op's pause
   under the same lock, so no pause outlives a shutdown. */
static int tg__op_pause_one(tg_scheduler *s, uint32_t opi)
{
    tg__opent *e = &s->ops[opi];
    int rc = TG_OK;
    pthread_mutex_lock(&e->lock);
    if (TG__LOAD_SEQ_CST(&s->accepting)) TG__STORE_RELAXED(&e->paused, 1u);
    else rc = TG_ESHUTDOWN;
    pthread_mutex_unlock(&e->lock);
    return rc;
}

/* Takes the op's held list (index + 1 of its first token, linked by
   held_link) and, when `resume`, lifts the pause in the same step. */
static uint32_t tg__op_take_held(tg_scheduler *s, uint32_t opi, int resume)
{
    tg__opent *e = &s->ops[opi];
    pthread_mutex_lock(&e->lock);
    if (resume) TG__STORE_RELAXED(&e->paused, 0u);
    uint32_t head = e->held_head;
    e->held_head = e->held_tail = 0;
    pthread_mutex_unlock(&e->lock);
    return head;
}

/* Empties the op's held list: with `resume`, lifts the pause and sends the
   tokens back to the queues in the order they were held; else kills them
   (they never started). */
static void tg__op_release_held(tg_scheduler *s, uint32_t opi, int resume)
{
    tg__worker *w = tg__current_worker(s);
    uint32_t next = tg__op_take_held(s, opi, resume);
    while (next) {
        uint32_t index = next - 1;
        tg__slot *sl = tg__slot_at(s, index);
        next = tg__held_next(s, index, TG__LIST_HELD);
        if (resume) {
            /* off the list: a wait may take it from here (its queue entry
               is then void). Slot-word RMW; held_link counts blocked time
               again (the list's link was read above) */
            TG__SLOT_STORE(&sl->held_link, 0u);
            (void)TG__FETCH_AND(&sl->gw, ~(uint64_t)TG__W_LISTED);
            tg__requeue(s, w, sl, index);
        } else {
            (void)tg__token_end(s, w, index, sl, 0, TG__FROM_LIVE, TG_KILLED, 1);
        }
    }
}

static int tg__op_resume_one(tg_scheduler *s, uint32_t opi)
{
    tg__op_release_held(s, opi, 1);
    return TG_OK;
}

/* Raises *mark to `epoch` (release: pairs with the workers' acquire loads
   of the mark). */
static void tg__op_raise(uint32_t *mark, uint32_t epoch)
{
    uint32_t old = TG__LOAD_RELAXED(mark);
    while (old < epoch && !TG__CAS(mark, &old, epoch, __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    }
}

/* Opens a new control epoch for the op: tokens submitted before (they read
   an older epoch in tg_submit) are killed when a worker takes them
   (drain_mark) and, with `kill`, asked to stop if running (kill_mark, raised
   after drain_mark, so a running token that stops never lets a drained one
   start); tokens submitted after the call are not touched. */
static void tg__op_drain_kill(tg_scheduler *s, uint32_t opi, int kill)
{
    tg__opent *e = &s->ops[opi];
    /* seq_cst: a submission whose epoch read happened before this call
       reads the old epoch */
    uint32_t now = TG__FETCH_ADD_SEQ_CST(&e->epoch, 1u) + 1u;
    tg__op_raise(&e->drain_mark, now);
    if (kill) tg__op_raise(&e->kill_mark, now);
    tg__op_release_held(s, opi, 0);
    tg__wake_all_workers(s);   /* drained tokens end as soon as a worker looks */
}

static int tg__op_drain_one(tg_scheduler *s, uint32_t opi)
{
    tg__op_drain_kill(s, opi, 0);
    return TG_OK;
}

static int tg__op_kill_one(tg_scheduler *s, uint32_t opi)
{
    tg__op_drain_kill(s, opi, 1);
    return TG_OK;
}

static int tg__op_unblock_one(tg_scheduler *s, uint32_t opi)
{
    tg__opent *e = &s->ops[opi];
    tg__opcount sum;
    tg__op_sum(s, opi, &sum);
    tg__guard_reset(&e->guard, &sum);
    return TG_OK;
}

TG_API int tg_op_pause(tg_scheduler *s, const char *op) { return tg__op_each(s, op, tg__op_pause_one); }
TG_API int tg_op_resume(tg_scheduler *s, const char *op) { return tg__op_each(s, op, tg__op_resume_one); }
TG_API int tg_op_drain(tg_scheduler *s, const char *op) { return tg__op_each(s, op, tg__op_drain_one); }
TG_API int tg_op_kill(tg_scheduler *s, const char *op) { return tg__op_each(s, op, tg__op_kill_one); }
TG_API int tg_op_unblock(tg_scheduler *s, const char *op) { return tg__op_each(s, op, tg__op_unblock_one); }

/* Histograms and sums of one op name, summed over its entries and workers. */
typedef struct tg__ophist_sum {
    uint64_t exec[TG__HIST_BUCKETS], wait[TG__HIST_BUCKETS];
    uint64_t exec_sum, wait_sum;
} tg__ophist_sum;

/* tg_op_stats, and (if h) the summed histograms. */
static int tg__op_stats_collect(tg_scheduler *s, const char *op, struct tg_op_stats *out,
                                tg__ophist_sum *h)
{
    tg__ophist_sum local;
    if (!h) h = &local;
    memset(out, 0, sizeof *out);
    memset(h, 0, sizeof *h);
    uint32_t n = tg__op_count(s);
    int found = 0;
    for (uint32_t i = 0; i < n; i++) {
        tg__opent *e = &s->ops[i];
        if (strcmp(e->name, op) != 0) continue;
        tg__opcount sum;
        tg__op_sum(s, i, &sum);
        if (!found) out->name = e->name;
        out->attempts += sum.successes + sum.failures;
        out->successes += sum.successes;
        out->failures += sum.failures;
        out->retried += sum.retried;
        out->failed += sum.failed;
        out->killed += sum.killed;
        out->timed_out += sum.timed_out;
        out->paused |= TG__LOAD_RELAXED(&e->paused) != 0;
        out->blocked |= tg__guard_blocked(&e->guard);
        /* acquire: pairs with the owners' release stores in tg__hist_add;
           k == nworkers: the entry's shared rows (threads without a core) */
        for (unsigned k = 0; k <= s->nworkers; k++) {
            tg__ophist *wh = k < s->nworkers ? &s->workers[k]->oph[i] : &e->hist;
            for (unsigned b = 0; b < TG__HIST_BUCKETS; b++) {
                h->exec[b] += TG__STAT_LOAD(&wh->exec[b]);
                h->wait[b] += TG__STAT_LOAD(&wh->wait[b]);
            }
            h->exec_sum += TG__STAT_LOAD(&wh->exec_sum);
            h->wait_sum += TG__STAT_LOAD(&wh->wait_sum);
            out->blocked_ns += TG__STAT_LOAD(&wh->blocked_sum);
        }
        found = 1;
    }
    if (!found) return TG_ENOOP;
    out->exec_p50_ns = tg__hist_quantile(h->exec, 0.50);
    out->exec_p95_ns = tg__hist_quantile(h->exec, 0.95);
    out->exec_p99_ns = tg__hist_quantile(h->exec, 0.99);
    out->wait_p50_ns = tg__hist_quantile(h->wait, 0.50);
    out->wait_p95_ns = tg__hist_quantile(h->wait, 0.95);
    out->wait_p99_ns = tg__hist_quantile(h->wait, 0.99);
    out->health = tg__health_class(out->attempts, out->successes);
    return TG_OK;
}

TG_API int tg_op_stats(tg_scheduler *s, const char *op, struct tg_op_stats *out)
{
    if (!s || !op || !out) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    return tg__op_stats_collect(s, op, out, NULL);
}

TG_API size_t tg_op_names(tg_scheduler *s, const char **names, size_t cap)
{
    if (!s || tg__fork_check(s) != TG_OK) return 0;
    uint32_t n = tg__op_count(s);
    size_t distinct = 0;
    for (uint32_t i = 0; i < n; i++) {
        /* one entry per name: each is distinct */
        if (names && distinct < cap) names[distinct] = s->ops[i].name;
        distinct++;
    }
    return distinct;
}

TG_API const char *tg_health_name(int health)
{
    static const char *const names[] = { "unknown", "excellent", "healthy", "at risk", "problematic" };
    unsigned i = (unsigned)health;
    return i < sizeof names / sizeof names[0] ? names[i] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* Telemetry                                                                */
/* ------------------------------------------------------------------------ */
/* >>telemetry */

static void tg__counters_add(tg__counters *sum, tg__counters *c)
{
    sum->entered += TG__STAT_LOAD(&c->entered);
    sum->submitted += TG__STAT_LOAD(&c->submitted);
    sum->admitted += TG__STAT_LOAD(&c->admitted);
    sum->abandoned += TG__STAT_LOAD(&c->abandoned);
    sum->completed += TG__STAT_LOAD(&c->completed);
    sum->failed += TG__STAT_LOAD(&c->failed);
    sum->killed += TG__STAT_LOAD(&c->killed);
    sum->timed_out += TG__STAT_LOAD(&c->timed_out);
    sum->executed += TG__STAT_LOAD(&c->executed);
    sum->stolen += TG__STAT_LOAD(&c->stolen);
    sum->freed += TG__STAT_LOAD(&c->freed);
}

/* Tokens created and not yet terminal. Ends are read before entries, so a
   token cannot be counted ended without being counted entered. */
static uint64_t tg__live_count(tg_scheduler *s, tg__counters *sum)
{
    tg__counters ends, entries;
    memset(&ends, 0, sizeof ends);
    memset(&entries, 0, sizeof entries);
    tg__counters_add(&ends, &s->outside);
    for (unsigned i = 0; i < s->nworkers; i++) tg__counters_add(&ends, &s->workers[i]->counters);
    uint64_t ended = ends.abandoned + ends.completed + ends.failed + ends.killed + ends.timed_out;
    /* seq_cst: pairs with tg_submit's seq_cst count and tg_shutdown's fence */
    uint64_t entered = TG__LOAD_SEQ_CST(&s->outside.entered);
    for (unsigned i = 0; i < s->nworkers; i++) entered += TG__STAT_LOAD(&s->workers[i]->counters.entered);
    if (sum) { *sum = ends; sum->entered = entered; }
    return entered > ended ? entered - ended : 0;
}

/* Functions core w's owners ran, and their summed run time: the sums of
   its per-op rows (each run counts one success or failure there). */
static void tg__core_runs(tg_scheduler *s, tg__worker *w, uint64_t *runs, uint64_t *run_ns)
{
    uint64_t n = 0, ns = 0;
    for (uint32_t i = 0, ops = tg__op_count(s); i < ops; i++) {
        n += TG__STAT_LOAD(&w->opc[i].successes) + TG__STAT_LOAD(&w->opc[i].failures);
        ns += TG__STAT_LOAD(&w->oph[i].exec_sum);
    }
    if (runs) *runs = n;
    if (run_ns) *run_ns = ns;
}

/* tg_stats' uptime and concurrency ratios. */
static void tg__stats_time(tg_scheduler *s, struct tg_stats *out)
{
    int64_t now = tg__now_ns();
    out->uptime_ns = now - s->created_ns;
    uint64_t run = 0, last = 0, prev = (uint64_t)now / 1000000000u - 1u;
    for (unsigned i = 0; i < s->nworkers; i++) {
        tg__worker *w = s->workers[i];
        uint64_t ns;
        tg__core_runs(s, w, NULL, &ns);
        run += ns;
        unsigned k = (unsigned)(prev & 1u);
        /* a racy pair of reads: a second being reset reads as 0 */
        if (TG__STAT_LOAD(&w->sec_id[k]) == prev) last += TG__STAT_LOAD(&w->sec_ns[k]);
    }
    /* runs on threads without a core (atomic adds: relaxed reads) */
    run += TG__LOAD_RELAXED(&s->other_run_ns);
    unsigned k = (unsigned)(prev & 1u);
    if (TG__LOAD_RELAXED(&s->other_sec_id[k]) == prev) last += TG__LOAD_RELAXED(&s->other_sec_ns[k]);
    if (now > s->created_ns) out->concurrency_since_start = (double)run / (double)(now - s->created_ns);
    out->concurrency_last_second = (double)last / 1e9;
}

/* tg_stats' slots: in use (from the counts `sum`) and backed by memory. */
static void tg__stats_slots(tg_scheduler *s, struct tg_stats *out, const tg__counters *sum)
{
    uint64_t allocated = 0;
    for (uint32_t k = 0; k < s->chunk_count; k++)
        if (TG__LOAD_ACQUIRE(&s->chunks[k])) allocated += TG__CHUNK_SLOTS;
    /* slots in use: tokens entered and their slots not yet given back (the
       frees, read in tg__live_count before the entries, never outrun them) */
    out->slots_in_use = sum->entered > sum->freed ? sum->entered - sum->freed : 0;
    /* the two counts are read a moment apart: never report more than exist */
    if (out->slots_in_use > s->slot_capacity) out->slots_in_use = s->slot_capacity;
    out->slots_allocated = allocated;
}

/* tg_stats' locality: sticky keys, domains, their overflows. */
static void tg__stats_locality(tg_scheduler *s, struct tg_stats *out)
{
    for (uint32_t i = 0; i <= s->sticky_mask; i++)
        if (TG__STICKY_COUNT(TG__LOAD_RELAXED(&s->sticky[i]))) out->sticky_keys++;
    for (uint32_t i = 0; i < s->cfg.max_domains; i++) {
        uint64_t counts = TG__LOAD_RELAXED(&s->domains[i].counts);
        if (counts >> 32) out->domains_open++;
        if (counts) out->domains_kept++;
    }
    out->sticky_overflow = TG__LOAD_RELAXED(&s->sticky_overflow);
    out->domain_overflow = TG__LOAD_RELAXED(&s->domain_overflow);
    out->domain_late = TG__LOAD_RELAXED(&s->domain_late);
}

/* tg_stats' spare workers: threads beyond the cores, those of them not in
   the pool (each core has an owner, so the rest serve a core or run a
   blocked task), the most at once. */
static void tg__stats_spares(tg_scheduler *s, struct tg_stats *out)
{
    pthread_mutex_lock(&s->pool_lock);
    uint32_t alive = s->threads_alive, pooled = s->pool_size;
    out->spares_peak = s->spares_peak;
    pthread_mutex_unlock(&s->pool_lock);
    out->spares_alive = alive > s->nworkers ? alive - s->nworkers : 0;
    uint32_t active = alive > pooled ? alive - pooled : 0;
    out->spares_running = active > s->nworkers ? active - s->nworkers : 0;
    out->handoffs = TG__LOAD_RELAXED(&s->handoffs);
}

/* tg_stats' per-core rows. */
static void tg__stats_cores(tg_scheduler *s, struct tg_stats *out)
{
    for (unsigned i = 0; i < s->nworkers && i < TG_MAX_WORKERS; i++) {
        tg__worker *w = s->workers[i];
        tg__core_runs(s, w, &out->cores[i].executed, &out->cores[i].run_ns);
        out->cores[i].stolen = TG__STAT_LOAD(&w->counters.stolen);
        out->cores[i].mailbox_depth = tg__mailbox_depth(&w->mailbox) + tg__mailbox_depth(&w->pinned) +
                                      tg__deque_depth(&w->deque);
        out->cores[i].busy = TG__LOAD_RELAXED(&w->busy) != 0;
        out->cores[i].cpu = TG__LOAD_RELAXED(&w->cpu);
    }
}

TG_API int tg_stats(tg_scheduler *s, struct tg_stats *out)
{
    if (!s || !out) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    memset(out, 0, sizeof *out);
    tg__counters sum;
    out->live = tg__live_count(s, &sum);
    out->workers = s->nworkers;
    out->submitted = sum.submitted;
    out->completed = sum.completed;
    out->failed = sum.failed;
    out->killed = sum.killed;
    out->timed_out = sum.timed_out;
    out->admitted = sum.admitted;
    for (uint32_t i = 0, n = tg__op_count(s); i < n; i++) {
        tg__opcount c;
        tg__op_sum(s, i, &c);
        out->retried += c.retried;
    }
    out->ops = (uint32_t)tg_op_names(s, NULL, 0);
    out->pin_failures = TG__LOAD_RELAXED(&s->pin_failures);
    out->paused = TG__LOAD_RELAXED(&s->paused) != 0;
    tg__stats_time(s, out);
    out->dedupe_joined = TG__LOAD_RELAXED(&s->dedupe_joined);
    out->dedupe_overflow = TG__LOAD_RELAXED(&s->dedupe_overflow);
    tg__tiers_read(s, out->tier_running, out->tier_waiting);
    tg__stats_spares(s, out);
    tg__stats_slots(s, out, &sum);
    tg__stats_locality(s, out);
    tg__stats_cores(s, out);
    return TG_OK;
}

/* ---- text exports: tg_stats_json and tg_stats_prometheus ---- */

/* A bounded text builder: writes what fits, always counts the full length. */
typedef struct tg__text {
    char *buf;
    size_t cap, len;
} tg__text;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void tg__text_printf(tg__text *t, const char *fmt, ...)
{
    char *at = t->len < t->cap ? t->buf + t->len : NULL;
    size_t room = t->len < t->cap ? t->cap - t->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(at, room, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n;
}

static void tg__text_put(tg__text *t, const char *bytes, size_t n)
{
    if (t->len < t->cap) {
        size_t room = t->cap - t->len;
        memcpy(t->buf + t->len, bytes, n < room ? n : room);
    }
    t->len += n;
}

/* Ends the text: NUL-terminates what fit. TG_OK with *len the text's
   length (as strlen); TG_ERANGE if not all of it fit, with *len a buffer
   size to allocate: the text, its NUL and headroom for the counters that
   grow before the next call (an eighth more, at least 256 bytes). */
#define TG__TEXT_HEADROOM(n) ((n) / 8 > 256 ? (n) / 8 : 256)
static int tg__text_finish(tg__text *t, size_t *len)
{
    if (t->len < t->cap) {
        t->buf[t->len] = '\0';
        if (len) *len = t->len;
        return TG_OK;
    }
    if (t->cap) t->buf[t->cap - 1] = '\0';
    if (len) *len = t->len + 1 + TG__TEXT_HEADROOM(t->len);
    return TG_ERANGE;
}

/* Length of the well-formed UTF-8 sequence at p (1..4), 0 if ill-formed
   (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t tg__utf8_sequence(const unsigned char *p, size_t n)
{
    if (!n) return 0;
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;          /* overlong */
        if (c == 0xED) hi = 0x9F;          /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;          /* overlong */
        if (c == 0xF4) hi = 0x8F;          /* past U+10FFFF */
    } else return 0;
    if (n < need || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return need;
}

/* s as a JSON string (quoted; ill-formed UTF-8 becomes U+FFFD). */
static void tg__text_json_string(tg__text *t, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    tg__text_put(t, "\"", 1);
    while (n) {
        size_t k = tg__utf8_sequence(p, n);
        if (k == 0) { tg__text_put(t, "\\ufffd", 6); k = 1; }
        else if (*p == '"' || *p == '\\') { tg__text_put(t, "\\", 1); tg__text_put(t, (const char *)p, 1); }
        else if (*p < 0x20) tg__text_printf(t, "\\u%04x", *p);
        else tg__text_put(t, (const char *)p, k);
        p += k;
        n -= k;
    }
    tg__text_put(t, "\"", 1);
}

/* s as a Prometheus label value (quoted; \, " and newline escaped;
   ill-formed UTF-8 and other control bytes become U+FFFD). */
static void tg__text_label(tg__text *t, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    tg__text_put(t, "\"", 1);
    while (n) {
        size_t k = tg__utf8_sequence(p, n);
        if (k == 0 || (*p < 0x20 && *p != '\n')) { tg__text_put(t, "\xef\xbf\xbd", 3); k = 1; }
        else if (*p == '\n') tg__text_put(t, "\\n", 2);
        else if (*p == '"' || *p == '\\') { tg__text_put(t, "\\", 1); tg__text_put(t, (const char *)p, 1); }
        else tg__text_put(t, (const char *)p, k);
        p += k;
        n -= k;
    }
    tg__text_put(t, "\"", 1);
}

static const char *const tg__tier_names[TG__TIERS] = { "none", "slow", "moderate", "fast", "insane" };

/* What both exports print: the scheduler's stats and every op's. */
typedef struct tg__export {
    struct tg_stats stats;
    size_t nops;
    const char **names;
    struct tg_op_stats *ops;
    tg__ophist_sum *hist;       /* one per op */
    size_t nalloc;              /* entries allocated in each array */
} tg__export;

static void tg__export_free(tg_scheduler *s, tg__export *x)
{
    tg__free(s, x->names, x->nalloc * sizeof *x->names);
    tg__free(s, x->ops, x->nalloc * sizeof *x->ops);
    tg__free(s, x->hist, x->nalloc * sizeof *x->hist);
}

static int tg__export_collect(tg_scheduler *s, tg__export *x)
{
    memset(x, 0, sizeof *x);
    tg_stats(s, &x->stats);
    size_t n = tg_op_names(s, NULL, 0);
    if (n) {
        x->nalloc = n;
        x->names = (const char **)tg__alloc(s, n * sizeof *x->names);
        x->ops = (struct tg_op_stats *)tg__alloc(s, n * sizeof *x->ops);
        x->hist = (tg__ophist_sum *)tg__alloc(s, n * sizeof *x->hist);
        if (!x->names || !x->ops || !x->hist) { tg__export_free(s, x); return TG_ENOMEM; }
        /* never fewer (ops are never removed), maybe more: keep the first n */
        if (tg_op_names(s, x->names, n) < n) n = 0;
        for (size_t i = 0; i < n; i++) tg__op_stats_collect(s, x->names[i], &x->ops[i], &x->hist[i]);
    }
    x->nops = n;
    return TG_OK;
}

/* What both exports do first: check the arguments, start the text, collect. */
static int tg__export_begin(tg_scheduler *s, char *buf, size_t cap, size_t *len, tg__export *x, tg__text *t)
{
    if (len) *len = 0;
    if (!s || (!buf && cap)) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    return tg__export_collect(s, x);
}

/* tg_stats_json's "ops" array: one object per op. */
static void tg__json_ops(tg__text *t, const tg__export *x)
{
    for (size_t i = 0; i < x->nops; i++) {
        const struct tg_op_stats *o = &x->ops[i];
        tg__text_printf(t, "%s{\"name\":", i ? "," : "");
        tg__text_json_string(t, o->name);
        tg__text_printf(t,
            ",\"attempts\":%llu,\"successes\":%llu,\"failures\":%llu,\"retried\":%llu,"
            "\"failed\":%llu,\"killed\":%llu,\"timed_out\":%llu,\"health\":\"%s\","
            "\"paused\":%s,\"blocked\":%s,"
            "\"exec_ns\":{\"p50\":%llu,\"p95\":%llu,\"p99\":%llu,\"sum\":%llu},"
            "\"wait_ns\":{\"p50\":%llu,\"p95\":%llu,\"p99\":%llu,\"sum\":%llu}}",
            (unsigned long long)o->attempts, (unsigned long long)o->successes,
            (unsigned long long)o->failures, (unsigned long long)o->retried,
            (unsigned long long)o->failed, (unsigned long long)o->killed,
            (unsigned long long)o->timed_out, tg_health_name(o->health),
            o->paused ? "true" : "false", o->blocked ? "true" : "false",
            (unsigned long long)o->exec_p50_ns, (unsigned long long)o->exec_p95_ns,
            (unsigned long long)o->exec_p99_ns, (unsigned long long)x->hist[i].exec_sum,
            (unsigned long long)o->wait_p50_ns, (unsigned long long)o->wait_p95_ns,
            (unsigned long long)o->wait_p99_ns, (unsigned long long)x->hist[i].wait_sum);
    }
}

#define TG__JSON_SCOPES 256   /* groups, and domains, listed at most */

/* tg_stats_json's "groups" (open ones, by id) and "domains" (open ones):
   their counts as the monitor shows them, each read on its own. A lead's
   handle is a string: JavaScript's numbers hold 53 bits. */
static void tg__json_scopes(tg__text *t, tg_scheduler *s)
{
    unsigned n = 0;
    tg__text_printf(t, "\"groups\":[");
    pthread_mutex_lock(&s->group_lock);
    for (tg_group *g = s->groups; g && n < TG__JSON_SCOPES; g = g->all) {
        if (!TG__LOAD_ACQUIRE(&g->open)) continue;
        tg_group *parent = TG__LOAD_RELAXED(&g->parent);   /* g's ref keeps it */
        tg__text_printf(t, "%s{\"id\":%llu,\"parent\":%llu,\"live\":%u,\"joined\":%llu,\"ended\":%llu,"
                           "\"cancelled\":%s,\"error\":%d}",
                        n++ ? "," : "", (unsigned long long)g->id,
                        (unsigned long long)(parent ? parent->id : 0),
                        (unsigned)(TG__LOAD_RELAXED(&g->live) & TG__GROUP_COUNT),
                        (unsigned long long)TG__LOAD_RELAXED(&g->joined),
                        (unsigned long long)TG__LOAD_RELAXED(&g->ended),
                        TG__LOAD_RELAXED(&g->cancelled) ? "true" : "false", (int)TG__LOAD_RELAXED(&g->error));
    }
    pthread_mutex_unlock(&s->group_lock);
    tg__text_printf(t, "],\"domains\":[");
    n = 0;
    for (uint32_t i = 0; i < s->cfg.max_domains && n < TG__JSON_SCOPES; i++) {
        tg__domain *d = &s->domains[i];
        uint64_t counts = TG__LOAD_ACQUIRE(&d->counts), lead = TG__LOAD_RELAXED(&d->lead);
        if (!(counts >> 32) || !lead) continue;
        char seed[65];
        uint8_t digest[32];
        for (unsigned b = 0; b < 32; b++) digest[b] = TG__LOAD_RELAXED(&d->digest[b]);
        tg_sha256_hex(digest, seed);
        tg__text_printf(t, "%s{\"lead\":\"%llu\",\"core\":%d,\"pending\":%llu,\"killed\":%s,\"seed\":\"%s\"}",
                        n++ ? "," : "", (unsigned long long)lead, (int)TG__LOAD_RELAXED(&d->core),
                        (unsigned long long)(counts >> 32),
                        TG__LOAD_RELAXED(&d->killed) ? "true" : "false", seed);
    }
    tg__text_printf(t, "]");
}

TG_API int tg_stats_json(tg_scheduler *s, char *buf, size_t cap, size_t *len)
{
    tg__export x;
    tg__text t;
    int rc = tg__export_begin(s, buf, cap, len, &x, &t);
    if (rc != TG_OK) return rc;
    const struct tg_stats *st = &x.stats;
    tg__text_printf(&t,
        "{\"workers\":%u,\"uptime_ns\":%lld,\"paused\":%s,"
        "\"tokens\":{\"submitted\":%llu,\"admitted\":%llu,\"completed\":%llu,\"failed\":%llu,"
        "\"killed\":%llu,\"timed_out\":%llu,\"retried\":%llu,\"live\":%llu},"
        "\"slots\":{\"in_use\":%llu,\"allocated\":%llu},"
        "\"concurrency\":{\"since_start\":%.6f,\"last_second\":%.6f},"
        "\"pin_failures\":%llu,",
        st->workers, (long long)st->uptime_ns, st->paused ? "true" : "false",
        (unsigned long long)st->submitted, (unsigned long long)st->admitted,
        (unsigned long long)st->completed, (unsigned long long)st->failed,
        (unsigned long long)st->killed, (unsigned long long)st->timed_out,
        (unsigned long long)st->retried, (unsigned long long)st->live,
        (unsigned long long)st->slots_in_use, (unsigned long long)st->slots_allocated,
        st->concurrency_since_start, st->concurrency_last_second,
        (unsigned long long)st->pin_failures);
    tg__text_printf(&t, "\"cores\":[");
    for (unsigned i = 0; i < st->workers && i < TG_MAX_WORKERS; i++) {
        const tg_core_stats *c = &st->cores[i];
        tg__text_printf(&t, "%s{\"core\":%u,\"cpu\":%d,\"busy\":%s,\"executed\":%llu,\"stolen\":%llu,"
                            "\"mailbox_depth\":%u,\"run_ns\":%llu}",
                        i ? "," : "", i, c->cpu, c->busy ? "true" : "false",
                        (unsigned long long)c->executed, (unsigned long long)c->stolen,
                        (unsigned)c->mailbox_depth, (unsigned long long)c->run_ns);
    }
    tg__text_printf(&t, "],\"ops\":[");
    tg__json_ops(&t, &x);
    tg__text_printf(&t, "],\"tiers\":[");
    for (int i = 1; i < TG__TIERS; i++)
        tg__text_printf(&t, "%s{\"tier\":\"%s\",\"running\":%u,\"waiting\":%u}", i > 1 ? "," : "",
                        tg__tier_names[i], (unsigned)st->tier_running[i], (unsigned)st->tier_waiting[i]);
    tg__text_printf(&t,
        "],\"dedupe\":{\"joined\":%llu,\"overflow\":%llu},"
        "\"locality\":{\"sticky_keys\":%llu,\"sticky_overflow\":%llu,\"domains_open\":%llu,"
        "\"domains_kept\":%llu,\"domain_overflow\":%llu,\"domain_late\":%llu},",
        (unsigned long long)st->dedupe_joined, (unsigned long long)st->dedupe_overflow,
        (unsigned long long)st->sticky_keys, (unsigned long long)st->sticky_overflow,
        (unsigned long long)st->domains_open, (unsigned long long)st->domains_kept,
        (unsigned long long)st->domain_overflow, (unsigned long long)st->domain_late);
    tg__json_scopes(&t, s);
    tg__text_printf(&t, "}");
    tg__export_free(s, &x);
    return tg__text_finish(&t, len);
}

/* "# HELP" and "# TYPE" lines of a metric family. */
static void tg__prom_family(tg__text *t, const char *name, const char *type, const char *help)
{
    tg__text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One family with one unlabelled sample. */
static void tg__prom_single(tg__text *t, const char *name, const char *type, const char *help,
                            unsigned long long value)
{
    tg__prom_family(t, name, type, help);
    tg__text_printf(t, "%s %llu\n", name, value);
}

/* An op's histogram: cumulative buckets at every power of two from 2^8 ns
   (256 ns) to 2^36 ns (about 69 s), then +Inf, _sum and _count. */
static void tg__prom_histogram(tg__text *t, const char *name, const char *op, const uint64_t *h,
                               uint64_t sum_ns)
{
    uint64_t cumulative = 0;
    for (unsigned b = 0; b < TG__HIST_BUCKETS; b++) {
        cumulative += h[b];
        uint64_t upper = tg__hist_upper(b);
        if (b + 1 == TG__HIST_BUCKETS || upper < 256u || upper > ((uint64_t)1 << 36) ||
            (upper & (upper - 1)) != 0)
            continue;
        tg__text_printf(t, "%s_bucket{op=", name);
        tg__text_label(t, op);
        tg__text_printf(t, ",le=\"%.9g\"} %llu\n", (double)upper / 1e9, (unsigned long long)cumulative);
    }
    tg__text_printf(t, "%s_bucket{op=", name);
    tg__text_label(t, op);
    tg__text_printf(t, ",le=\"+Inf\"} %llu\n", (unsigned long long)cumulative);
    tg__text_printf(t, "%s_sum{op=", name);
    tg__text_label(t, op);
    tg__text_printf(t, "} %.9f\n", (double)sum_ns / 1e9);
    tg__text_printf(t, "%s_count{op=", name);
    tg__text_label(t, op);
    tg__text_printf(t, "} %llu\n", (unsigned long long)cumulative);
}

/* The scheduler's own families. */
static void tg__prom_scheduler(tg__text *t, const struct tg_stats *st)
{
    tg__prom_single(t, "tokengate_workers", "gauge", "Worker threads of the scheduler.", st->workers);
    tg__prom_family(t, "tokengate_uptime_seconds", "gauge", "Seconds since the scheduler was created.");
    tg__text_printf(t, "tokengate_uptime_seconds %.3f\n", (double)st->uptime_ns / 1e9);
    tg__prom_single(t, "tokengate_paused", "gauge", "1 while tg_pause is in force.", (unsigned)st->paused);
    tg__prom_single(t, "tokengate_tokens_submitted_total", "counter", "Tokens accepted by tg_submit.", st->submitted);
    tg__prom_single(t, "tokengate_tokens_admitted_total", "counter", "Tokens that reached a run queue.", st->admitted);
    tg__prom_single(t, "tokengate_tokens_completed_total", "counter", "Tokens that ended COMPLETED.", st->completed);
    tg__prom_single(t, "tokengate_tokens_failed_total", "counter", "Tokens that ended FAILED.", st->failed);
    tg__prom_single(t, "tokengate_tokens_killed_total", "counter", "Tokens that ended KILLED.", st->killed);
    tg__prom_single(t, "tokengate_tokens_timed_out_total", "counter", "Tokens that ended TIMEOUT.", st->timed_out);
    tg__prom_single(t, "tokengate_runs_retried_total", "counter", "Failed runs queued again.", st->retried);
    tg__prom_single(t, "tokengate_tokens_live", "gauge", "Tokens submitted and not yet terminal.", st->live);
    tg__prom_single(t, "tokengate_slots_in_use", "gauge", "Token slots held (live or unreleased).", st->slots_in_use);
    tg__prom_single(t, "tokengate_slots_allocated", "gauge", "Token slots backed by memory.", st->slots_allocated);
    tg__prom_single(t, "tokengate_pin_failures_total", "counter", "Workers that could not be pinned.", st->pin_failures);
    tg__prom_family(t, "tokengate_concurrency_ratio", "gauge", "Summed run time of the functions over wall time.");
    tg__text_printf(t, "tokengate_concurrency_ratio{window=\"since_start\"} %.6f\n", st->concurrency_since_start);
    tg__text_printf(t, "tokengate_concurrency_ratio{window=\"last_second\"} %.6f\n", st->concurrency_last_second);
}

/* Per core. */
static void tg__prom_cores(tg__text *t, const struct tg_stats *st)
{
    unsigned cores = st->workers < TG_MAX_WORKERS ? st->workers : TG_MAX_WORKERS;
    tg__prom_family(t, "tokengate_core_tokens_executed_total", "counter", "Functions run by the core's worker.");
    for (unsigned i = 0; i < cores; i++)
        tg__text_printf(t, "tokengate_core_tokens_executed_total{core=\"%u\"} %llu\n", i,
                        (unsigned long long)st->cores[i].executed);
    tg__prom_family(t, "tokengate_core_tokens_stolen_total", "counter", "Tokens the core's worker took from other cores.");
    for (unsigned i = 0; i < cores; i++)
        tg__text_printf(t, "tokengate_core_tokens_stolen_total{core=\"%u\"} %llu\n", i,
                        (unsigned long long)st->cores[i].stolen);
    tg__prom_family(t, "tokengate_core_busy_seconds_total", "counter", "Summed run time of the core's functions.");
    for (unsigned i = 0; i < cores; i++)
        tg__text_printf(t, "tokengate_core_busy_seconds_total{core=\"%u\"} %.9f\n", i,
                        (double)st->cores[i].run_ns / 1e9);
    tg__prom_family(t, "tokengate_core_mailbox_depth", "gauge", "Tokens waiting in the core's mailboxes and deque.");
    for (unsigned i = 0; i < cores; i++)
        tg__text_printf(t, "tokengate_core_mailbox_depth{core=\"%u\"} %u\n", i, (unsigned)st->cores[i].mailbox_depth);
    tg__prom_family(t, "tokengate_core_busy", "gauge", "1 while the core's worker runs a function.");
    for (unsigned i = 0; i < cores; i++)
        tg__text_printf(t, "tokengate_core_busy{core=\"%u\"} %d\n", i, st->cores[i].busy);
    tg__prom_family(t, "tokengate_core_cpu", "gauge", "CPU the core's worker is pinned to, -1 if none.");
    for (unsigned i = 0; i < cores; i++)
        tg__text_printf(t, "tokengate_core_cpu{core=\"%u\"} %d\n", i, st->cores[i].cpu);
}

/* Per op: one family at a time, one sample (or a few) per op. */
static const struct { const char *name, *type, *help; } tg__prom_op_families[] = {
    { "tokengate_op_runs_total", "counter", "Runs of the op that returned, by result." },
    { "tokengate_op_retries_total", "counter", "Failed runs of the op queued again." },
    { "tokengate_op_tokens_ended_total", "counter", "Tokens of the op that ended failed, killed or timed out." },
    { "tokengate_op_paused", "gauge", "1 while tg_op_pause holds the op." },
    { "tokengate_op_blocked", "gauge", "1 while the health guard refuses the op." },
    { "tokengate_op_health", "gauge", "The op's health class (1 for the current class)." },
};

/* The sample(s) of family f (of tg__prom_op_families) for one op. */
static void tg__prom_op_sample(tg__text *t, unsigned f, const struct tg_op_stats *o)
{
    switch (f) {
    case 0:
        tg__text_printf(t, "tokengate_op_runs_total{op=");
        tg__text_label(t, o->name);
        tg__text_printf(t, ",result=\"success\"} %llu\n", (unsigned long long)o->successes);
        tg__text_printf(t, "tokengate_op_runs_total{op=");
        tg__text_label(t, o->name);
        tg__text_printf(t, ",result=\"failure\"} %llu\n", (unsigned long long)o->failures);
        break;
    case 1:
        tg__text_printf(t, "tokengate_op_retries_total{op=");
        tg__text_label(t, o->name);
        tg__text_printf(t, "} %llu\n", (unsigned long long)o->retried);
        break;
    case 2: {
        const char *states[3] = { "failed", "killed", "timed_out" };
        uint64_t counts[3] = { o->failed, o->killed, o->timed_out };
        for (int k = 0; k < 3; k++) {
            tg__text_printf(t, "tokengate_op_tokens_ended_total{op=");
            tg__text_label(t, o->name);
            tg__text_printf(t, ",state=\"%s\"} %llu\n", states[k], (unsigned long long)counts[k]);
        }
        break;
    }
    case 3:
    case 4:
        tg__text_printf(t, "%s{op=", tg__prom_op_families[f].name);
        tg__text_label(t, o->name);
        tg__text_printf(t, "} %d\n", f == 3 ? o->paused : o->blocked);
        break;
    default:
        tg__text_printf(t, "tokengate_op_health{op=");
        tg__text_label(t, o->name);
        tg__text_printf(t, ",class=\"%s\"} 1\n", tg_health_name(o->health));
        break;
    }
}

static void tg__prom_ops(tg__text *t, const tg__export *x)
{
    for (unsigned f = 0; f < sizeof tg__prom_op_families / sizeof tg__prom_op_families[0]; f++) {
        tg__prom_family(t, tg__prom_op_families[f].name, tg__prom_op_families[f].type, tg__prom_op_families[f].help);
        for (size_t i = 0; i < x->nops; i++) tg__prom_op_sample(t, f, &x->ops[i]);
    }
    tg__prom_family(t, "tokengate_op_exec_seconds", "histogram", "Run time of the op's functions.");
    for (size_t i = 0; i < x->nops; i++)
        tg__prom_histogram(t, "tokengate_op_exec_seconds", x->ops[i].name, x->hist[i].exec, x->hist[i].exec_sum);
    tg__prom_family(t, "tokengate_op_wait_seconds", "histogram", "Queue wait of the op's runs (admission to start).");
    for (size_t i = 0; i < x->nops; i++)
        tg__prom_histogram(t, "tokengate_op_wait_seconds", x->ops[i].name, x->hist[i].wait, x->hist[i].wait_sum);
}

/* Storage tiers, dedupe and locality. */
static void tg__prom_locality(tg__text *t, const struct tg_stats *st)
{
    tg__prom_family(t, "tokengate_tier_running", "gauge", "Tokens of the storage tier running.");
    for (int i = 1; i < TG__TIERS; i++)
        tg__text_printf(t, "tokengate_tier_running{tier=\"%s\"} %u\n", tg__tier_names[i], (unsigned)st->tier_running[i]);
    tg__prom_family(t, "tokengate_tier_waiting", "gauge", "Tokens of the storage tier set aside at its cap.");
    for (int i = 1; i < TG__TIERS; i++)
        tg__text_printf(t, "tokengate_tier_waiting{tier=\"%s\"} %u\n", tg__tier_names[i], (unsigned)st->tier_waiting[i]);
    tg__prom_single(t, "tokengate_dedupe_joined_total", "counter", "Dedupe submissions that joined a live token.", st->dedupe_joined);
    tg__prom_single(t, "tokengate_dedupe_overflow_total", "counter", "Dedupe submissions that ran alone (entry taken).", st->dedupe_overflow);
    tg__prom_single(t, "tokengate_sticky_keys", "gauge", "Sticky keys pinned to a core.", st->sticky_keys);
    tg__prom_single(t, "tokengate_sticky_overflow_total", "counter", "Sticky tokens routed freely (entry held by another key).", st->sticky_overflow);
    tg__prom_single(t, "tokengate_domains_open", "gauge", "Domains with a live member.", st->domains_open);
    tg__prom_single(t, "tokengate_domains_kept", "gauge", "Domain entries still named by a member's slot.", st->domains_kept);
    tg__prom_single(t, "tokengate_domain_overflow_total", "counter", "Leads that found no free domain entry.", st->domain_overflow);
    tg__prom_single(t, "tokengate_domain_late_total", "counter", "Tokens submitted after their domain was released.", st->domain_late);
}

TG_API int tg_stats_prometheus(tg_scheduler *s, char *buf, size_t cap, size_t *len)
{
    tg__export x;
    tg__text t;
    int rc = tg__export_begin(s, buf, cap, len, &x, &t);
    if (rc != TG_OK) return rc;
    tg__prom_scheduler(&t, &x.stats);
    tg__prom_cores(&t, &x.stats);
    tg__prom_ops(&t, &x);
    tg__prom_locality(&t, &x.stats);
    tg__export_free(s, &x);
    return tg__text_finish(&t, len);
}

/* ------------------------------------------------------------------------ */
/* Monitor: SHA-1, base64, HTTP and WebSocket parsers, the page, the server */
/* ------------------------------------------------------------------------ */
/* >>monitor */
#ifdef TOKENGATE_MONITOR

/* The monitor is a client of the scheduler: it calls the public API
   (tg_stats_json, tg_stats_prometheus, the tg_op_* controls) and, of the
   private parts, only the helpers named on the next line (a check of
   `make test` holds it to them). Its memory comes from the scheduler's
   tg_allocator.
   monitor-uses: TG__LOAD_ACQUIRE TG__STORE_RELEASE tg__now_ns tg__alloc tg__alloc_zero tg__free tg__text tg__text_printf tg__text_json_string tg__utf8_sequence tg__group_kill_id tg__domain_kill_lead */

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

/* ---- SHA-1 (FIPS 180-4), for the WebSocket handshake only ---- */

static uint32_t tg__rol32(uint32_t x, unsigned n) { return (x << n) | (x >> (32u - n)); }

static void tg__sha1_block(uint32_t h[5], const unsigned char *p)
{
    uint32_t w[80];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = tg__rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
        else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
        else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
        else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
        uint32_t t = tg__rol32(a, 5) + f + e + k + w[i];
        e = d; d = c; c = tg__rol32(b, 30); b = a; a = t;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}

/* The SHA-1 digest of a short message (the handshake's key + GUID). */
static void tg__sha1(const void *data, size_t len, uint8_t digest[20])
{
    uint32_t h[5] = { 0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u };
    const unsigned char *p = (const unsigned char *)data;
    size_t left = len;
    for (; left >= 64; left -= 64, p += 64) tg__sha1_block(h, p);
    unsigned char last[128];
    memset(last, 0, sizeof last);
    if (left) memcpy(last, p, left);
    last[left] = 0x80;
    size_t blocks = left + 9 <= 64 ? 1 : 2;
    uint64_t bits = (uint64_t)len * 8u;
    for (int i = 0; i < 8; i++) last[blocks * 64 - 1 - (size_t)i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < blocks; i++) tg__sha1_block(h, last + 64 * i);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) digest[4 * i + j] = (uint8_t)(h[i] >> (24 - 8 * j));
}

/* ---- base64 (RFC 4648, with padding) ---- */

static const char tg__b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes 4 * ceil(n / 3) characters and a NUL into out. */
static void tg__base64(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0u) | (i + 2 < n ? in[i + 2] : 0u);
        out[o++] = tg__b64[v >> 18 & 63];
        out[o++] = tg__b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? tg__b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tg__b64[v & 63] : '=';
    }
    out[o] = '\0';
}

/* A Sec-WebSocket-Key is the base64 of 16 bytes: 22 characters and "==". */
static int tg__ws_key_valid(const char *key)
{
    if (strlen(key) != 24 || key[22] != '=' || key[23] != '=') return 0;
    for (int i = 0; i < 22; i++)
        if (!strchr(tg__b64, key[i]) || key[i] == '\0') return 0;
    return strchr("AQgw", key[21]) != NULL;   /* the last 4 bits are zero */
}

/* ---- HTTP request heads ---- */

#define TG__HTTP_HEAD_MAX 8192u     /* a longer head: 431 */
#define TG__HTTP_HEADERS_MAX 64u    /* more header lines: 431 */

/* An HTTP/1.x request head. */
typedef struct tg__http_request {
    char method[16];
    char path[256];          /* the target up to '?' */
    char query[256];         /* after '?', without it; "" if none */
    char ws_key[64];         /* Sec-WebSocket-Key */
    char authorization[256]; /* Authorization header value */
    int ws_version;          /* Sec-WebSocket-Version, 0 if absent */
    int upgrade_websocket;   /* Upgrade: websocket and Connection: ...upgrade... */
    size_t head_len;         /* bytes of the head, the final CRLF CRLF included */
} tg__http_request;

static int tg__http_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int tg__ascii_lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* Case-insensitive equality of [s, s+n) and the NUL-terminated word. */
static int tg__http_name_is(const char *s, size_t n, const char *word)
{
    size_t i = 0;
    for (; i < n && word[i]; i++)
        if (tg__ascii_lower((unsigned char)s[i]) != word[i]) return 0;
    return i == n && word[i] == '\0';
}

/* Whether the comma-separated list [v, v+n) holds token (case-insensitive). */
static int tg__http_list_has(const char *v, size_t n, const char *token)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
        size_t start = i;
        while (i < n && v[i] != ',') i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
        if (end > start && tg__http_name_is(v + start, end - start, token)) return 1;
    }
    return 0;
}

/* Copies [s, s+n) into a field of cap bytes; 0 if it does not fit. */
static int tg__http_copy(char *field, size_t cap, const char *s, size_t n)
{
    if (n >= cap) return 0;
    memcpy(field, s, n);
    field[n] = '\0';
    return 1;
}

/* Where the head ends (after its empty line): > 0; 0: not yet, read more;
   < 0: the negated HTTP status (431 too long, 400 a byte no head holds). */
static int tg__http_head_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 3 < len && i + 4 <= TG__HTTP_HEAD_MAX; i++)
        if (buf[i] == '\r' && buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return (int)(i + 4);
    if (len >= TG__HTTP_HEAD_MAX) return -431;
    /* fail early on bytes no head may hold */
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\0') return -400;
        if (buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r')) return -400;
    }
    return 0;
}

/* The request line of a head ending at `end`: method, path, query and the
   minor version; *at: where the headers begin. 0 or a negated status. */
static int tg__http_request_line(const char *buf, size_t end, tg__http_request *req, size_t *at, int *minor)
{
    size_t i = 0;
    while (i < end && tg__http_tchar((unsigned char)buf[i])) i++;
    if (i == 0 || i >= sizeof req->method || buf[i] != ' ') return -400;
    memcpy(req->method, buf, i);
    size_t t = ++i;
    while (i < end && (unsigned char)buf[i] > 0x20 && (unsigned char)buf[i] < 0x7f) i++;
    if (i == t || buf[i] != ' ' || buf[t] != '/') return -400;
    size_t target_end = i;
    size_t q = t;
    while (q < target_end && buf[q] != '?') q++;
    if (!tg__http_copy(req->path, sizeof req->path, buf + t, q - t)) return -414;
    if (q < target_end && !tg__http_copy(req->query, sizeof req->query, buf + q + 1, target_end - q - 1))
        return -414;
    size_t v = ++i;
    while (i < end && buf[i] != '\r') i++;
    if (buf[i + 1] != '\n') return -400;
    if (i - v == 8 && memcmp(buf + v, "HTTP/1.", 7) == 0 && (buf[v + 7] == '0' || buf[v + 7] == '1'))
        *minor = buf[v + 7] - '0';
    else if (i - v >= 5 && memcmp(buf + v, "HTTP/", 5) == 0) return -505;
    else return -400;
    *at = i + 2;
    return 0;
}

/* What the headers said, beyond the fields of the request. */
typedef struct tg__http_seen {
    int host, upgrade, connection_upgrade, has_key;
} tg__http_seen;

/* One header (name and value, the value trimmed): 0 or a negated status. */
static int tg__http_header(tg__http_request *req, tg__http_seen *seen, const char *n, size_t name_len,
                           const char *val, size_t value_len)
{
    if (tg__http_name_is(n, name_len, "host")) {
        if (seen->host++) return -400;
    } else if (tg__http_name_is(n, name_len, "upgrade")) {
        seen->upgrade |= tg__http_list_has(val, value_len, "websocket");
    } else if (tg__http_name_is(n, name_len, "connection")) {
        seen->connection_upgrade |= tg__http_list_has(val, value_len, "upgrade");
    } else if (tg__http_name_is(n, name_len, "sec-websocket-key")) {
        if (seen->has_key++ || !tg__http_copy(req->ws_key, sizeof req->ws_key, val, value_len)) return -400;
    } else if (tg__http_name_is(n, name_len, "sec-websocket-version")) {
        int version = 0;
        if (value_len == 0 || value_len > 3) return -400;
        for (size_t k = 0; k < value_len; k++) {
            if (val[k] < '0' || val[k] > '9') return -400;
            version = version * 10 + (val[k] - '0');
        }
        req->ws_version = version;
    } else if (tg__http_name_is(n, name_len, "authorization")) {
        if (!tg__http_copy(req->authorization, sizeof req->authorization, val, value_len)) return -431;
    } else if (tg__http_name_is(n, name_len, "content-length")) {
        for (size_t k = 0; k < value_len; k++)
            if (val[k] != '0') return -413;       /* no request carries a body */
        if (value_len == 0) return -400;
    } else if (tg__http_name_is(n, name_len, "transfer-encoding")) {
        return -413;
    }
    return 0;
}

/* 0: incomplete, read more; > 0: a complete head of that many bytes (req
   filled); < 0: the negated HTTP status to answer with. Strict: lines end
   in CRLF, no folded headers, GET only, no body, HTTP/1.0 or 1.1 (1.1
   needs Host). */
static int tg__http_parse(const char *buf, size_t len, tg__http_request *req)
{
    memset(req, 0, sizeof *req);
    int head = tg__http_head_end(buf, len);
    if (head <= 0) return head;
    size_t end = (size_t)head, i = 0;
    int minor = -1;
    int rc = tg__http_request_line(buf, end, req, &i, &minor);
    if (rc < 0) return rc;
    /* header lines, up to the empty line */
    unsigned lines = 0;
    tg__http_seen seen = { 0, 0, 0, 0 };
    while (i < end - 2) {
        if (++lines > TG__HTTP_HEADERS_MAX) return -431;
        size_t name = i;
        while (i < end && tg__http_tchar((unsigned char)buf[i])) i++;
        if (i == name || buf[i] != ':') return -400;   /* a fold, an empty name, bad bytes */
        size_t name_len = i - name;
        i++;
        while (buf[i] == ' ' || buf[i] == '\t') i++;
        size_t value = i;
        while (i < end && buf[i] != '\r') {
            unsigned char c = (unsigned char)buf[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) return -400;
            i++;
        }
        if (buf[i + 1] != '\n') return -400;
        size_t value_end = i;
        while (value_end > value && (buf[value_end - 1] == ' ' || buf[value_end - 1] == '\t')) value_end--;
        rc = tg__http_header(req, &seen, buf + name, name_len, buf + value, value_end - value);
        if (rc < 0) return rc;
        i += 2;
    }
    if (minor == 1 && !seen.host) return -400;
    if (strcmp(req->method, "GET") != 0) return -405;
    req->upgrade_websocket = seen.upgrade && seen.connection_upgrade;
    req->head_len = end;
    return (int)end;
}

/* ---- WebSocket frames (RFC 6455) ---- */

#define TG__WS_PAYLOAD_MAX 4096u   /* a client message larger than this: 1009 */

typedef struct tg__ws_frame {
    int fin, opcode;
    uint64_t payload_len;
    size_t header_len;       /* bytes before the payload */
    uint8_t mask[4];
} tg__ws_frame;

/* 0: incomplete; > 0: a whole frame of header_len + payload_len bytes is
   in buf (returned as that total); < 0: the negated close code to send
   (1002 protocol error, 1009 too big). Client frames must be masked, use
   the shortest length form, and set no reserved bit; control frames are
   whole and at most 125 bytes. */
static int tg__ws_parse(const uint8_t *buf, size_t len, size_t max_payload, tg__ws_frame *f)
{
    memset(f, 0, sizeof *f);
    if (len < 2) return 0;
    unsigned b0 = buf[0], b1 = buf[1];
    if (b0 & 0x70u) return -1002;
    unsigned opcode = b0 & 0x0fu;
    if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10))) return -1002;
    if (!(b1 & 0x80u)) return -1002;
    f->fin = (b0 & 0x80u) != 0;
    f->opcode = (int)opcode;
    uint64_t n = b1 & 0x7fu;
    size_t header = 2;
    if (opcode >= 8 && (!f->fin || n > 125)) return -1002;
    if (n == 126) {
        if (len < 4) return 0;
        n = (uint64_t)buf[2] << 8 | buf[3];
        if (n < 126) return -1002;
        header = 4;
    } else if (n == 127) {
        if (len < 10) return 0;
        n = 0;
        for (int k = 2; k < 10; k++) n = n << 8 | buf[k];
        if ((n >> 63) || n <= 0xffffu) return -1002;
        header = 10;
    }
    if (n > max_payload) return -1009;
    header += 4;
    if (len < header) return 0;
    memcpy(f->mask, buf + header - 4, 4);
    if (len - header < n) return 0;
    f->payload_len = n;
    f->header_len = header;
    return (int)(header + n);
}

/* Unmasks n payload bytes in place (offset: bytes already unmasked). */
static void tg__ws_unmask(uint8_t *payload, size_t n, const uint8_t mask[4], size_t offset)
{
    for (size_t i = 0; i < n; i++) payload[i] ^= mask[(offset + i) & 3u];
}

/* ---- the page served at / (HTML, CSS and JavaScript, no external asset) ---- */

static const char *const tg__monitor_page[] = {
    "<!DOCTYPE html>\n",
    "<html lang='en'><head><meta charset='utf-8'><title>TokenGate monitor</title>\n",
    "<meta name='viewport' content='width=device-width, initial-scale=1'><link rel='icon' href='data:,'>\n",
    "<style>\n",
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}\n",
    "header{background:#1d2330;color:#fff;padding:10px 18px;display:flex;gap:14px;align-items:center;flex-wrap:wrap}\n",
    "header h1{font-size:17px;margin:0 12px 0 0}\n",
    "input{padding:5px 8px;border:1px solid #aab;border-radius:4px;width:280px}\n",
    "button{padding:4px 10px;border:1px solid #889;border-radius:4px;background:#fff;cursor:pointer}\n",
    "button:hover{background:#e8ebf2}\n",
    "#status{font-weight:600;padding:2px 8px;border-radius:4px;background:#555}\n",
    "#status.live{background:#1f8a4c}#status.bad{background:#b3261e}\n",
    "main{padding:14px 18px;display:grid;gap:14px}\n",
    "section{background:#fff;border-radius:6px;padding:12px 14px;box-shadow:0 1px 2px #0002}\n",
    "h2{font-size:14px;margin:0 0 8px;text-transform:uppercase;letter-spacing:.04em;color:#556}\n",
    "#totals span{margin-right:18px}#totals b{font-variant-numeric:tabular-nums}\n",
    "#cores{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:8px}\n",
    ".core{border:1px solid #dde;border-radius:4px;padding:6px 8px}\n",
    ".bar{height:8px;background:#e3e6ee;border-radius:4px;overflow:hidden;margin:4px 0}\n",
    ".bar i{display:block;height:100%;background:#3d6fd9}\n",
    "canvas{width:100%;height:180px}\n",
    "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}\n",
    "th,td{padding:4px 8px;border-bottom:1px solid #eef;text-align:right;white-space:nowrap}\n",
    "th:first-child,td:first-child{text-align:left}\n",
    "td.state{font-weight:600}td.state.paused{color:#b26a00}td.state.blocked{color:#b3261e}\n",
    "#log{color:#556;min-height:1.4em}\n",
    "</style></head><body>\n",
    "<header><h1>TokenGate monitor</h1>\n",
    "<label>access token <input id='token' type='password' autocomplete='off' placeholder='printed when the monitor started'></label>\n",
    "<button id='connect'>connect</button><span id='status'>not connected</span></header>\n",
    "<main>\n",
    "<section><h2>Totals</h2><div id='totals'></div><div id='log'></div></section>\n",
    "<section><h2>Cores</h2><div id='cores'></div></section>\n",
    "<section><h2>Tokens per second</h2><canvas id='chart' width='900' height='180'></canvas></section>\n",
    "<section><h2>Operations</h2><table id='ops'><thead><tr><th>op</th><th>attempts</th><th>ok</th><th>failed runs</th>\n",
    "<th>retried</th><th>health</th><th>run p50</th><th>run p99</th><th>wait p50</th><th>wait p99</th><th>state</th><th>controls</th></tr></thead>\n",
    "<tbody></tbody></table></section>\n",
    "</main>\n",
    "<script>\n",
    "'use strict';\n",
    "const $ = (id) => document.getElementById(id);\n",
    "let ws = null, last = null, rates = [], badToken = false;\n",
    "function setStatus(text, cls) { const s = $('status'); s.textContent = text; s.className = cls || ''; }\n",
    "function ns(v) {\n",
    "  if (v >= 1e9) return (v / 1e9).toFixed(2) + ' s';\n",
    "  if (v >= 1e6) return (v / 1e6).toFixed(2) + ' ms';\n",
    "  if (v >= 1e3) return (v / 1e3).toFixed(1) + ' us';\n",
    "  return v + ' ns';\n",
    "}\n",
    "function connect() {\n",
    "  if (ws) { ws.onclose = null; ws.close(); }\n",
    "  badToken = false; last = null; rates = [];\n",
    "  const token = $('token').value.trim();\n",
    "  setStatus('connecting');\n",
    "  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');\n",
    "  ws.onopen = () => ws.send('auth ' + token);\n",
    "  ws.onmessage = (ev) => {\n",
    "    const m = JSON.parse(ev.data);\n",
    "    if (m.type === 'auth') { if (!m.ok) { badToken = true; setStatus('bad token', 'bad'); } }\n",
    "    else if (m.type === 'stats') { setStatus('live', 'live'); render(m.stats); }\n",
    "    else if (m.type === 'reply') { $('log').textContent = m.cmd + ' ' + (m.op || '') + ': ' + m.error; }\n",
    "    else if (m.type === 'error') { $('log').textContent = m.error; }\n",
    "  };\n",
    "  ws.onclose = () => { if (!badToken) setStatus('disconnected', 'bad'); ws = null; };\n",
    "}\n",
    "function render(st) {\n",
    "  const t = st.tokens, ended = t.completed + t.failed + t.killed + t.timed_out;\n",
    "  const parts = [['submitted', t.submitted], ['admitted', t.admitted], ['completed', t.completed],\n",
    "    ['failed', t.failed], ['killed', t.killed], ['timed out', t.timed_out], ['retried', t.retried],\n",
    "    ['live', t.live], ['concurrency (1 s)', st.concurrency.last_second.toFixed(2)],\n",
    "    ['workers', st.workers], ['paused', st.paused ? 'yes' : 'no']];\n",
    "  $('totals').innerHTML = '';\n",
    "  for (const [k, v] of parts) {\n",
    "    const sp = document.createElement('span'); sp.textContent = k + ' ';\n",
    "    const b = document.createElement('b'); b.textContent = v; sp.appendChild(b); $('totals').appendChild(sp);\n",
    "  }\n",
    "  const dt = last ? (st.uptime_ns - last.uptime_ns) : 0;\n",
    "  renderCores(st, dt);\n",
    "  if (last && dt > 0) { rates.push((ended - last.ended) * 1e9 / dt); if (rates.length > 120) rates.shift(); }\n",
    "  drawChart();\n",
    "  renderOps(st.ops);\n",
    "  renderScopes(st.groups || [], st.domains || []);\n",
    "  last = { uptime_ns: st.uptime_ns, ended: ended, cores: st.cores };\n",
    "}\n",
    "function renderCores(st, dt) {\n",
    "  const box = $('cores');\n",
    "  for (const c of st.cores) {\n",
    "    let el = box.querySelector('.core[data-core=\"' + c.core + '\"]');\n",
    "    if (!el) {\n",
    "      el = document.createElement('div'); el.className = 'core'; el.setAttribute('data-core', c.core);\n",
    "      el.innerHTML = '<div class=\"title\"></div><div class=\"bar\"><i></i></div><div class=\"detail\"></div>';\n",
    "      box.appendChild(el);\n",
    "    }\n",
    "    const prev = last && last.cores[c.core];\n",
    "    const load = prev && dt > 0 ? Math.min(1, (c.run_ns - prev.run_ns) / dt) : (c.busy ? 1 : 0);\n",
    "    el.querySelector('.title').textContent = 'core ' + c.core + (c.cpu >= 0 ? ' (cpu ' + c.cpu + ')' : '') +\n",
    "      ' - ' + Math.round(load * 100) + '% busy';\n",
    "    el.querySelector('.bar i').style.width = (load * 100).toFixed(1) + '%';\n",
    "    el.querySelector('.detail').textContent = 'queued ' + c.mailbox_depth + ', run ' + c.executed + ', stolen ' + c.stolen;\n",
    "  }\n",
    "}\n",
    "function drawChart() {\n",
    "  const cv = $('chart'), g = cv.getContext('2d'), w = cv.width, h = cv.height;\n",
    "  g.clearRect(0, 0, w, h);\n",
    "  const top = Math.max(10, ...rates) * 1.1;\n",
    "  g.strokeStyle = '#dde'; g.fillStyle = '#556'; g.font = '11px sans-serif';\n",
    "  for (let i = 0; i <= 4; i++) {\n",
    "    const y = h - 16 - (h - 26) * i / 4;\n",
    "    g.beginPath(); g.moveTo(44, y); g.lineTo(w, y); g.stroke();\n",
    "    g.fillText(Math.round(top * i / 4).toLocaleString(), 2, y + 4);\n",
    "  }\n",
    "  if (rates.length < 2) return;\n",
    "  g.strokeStyle = '#3d6fd9'; g.lineWidth = 2; g.beginPath();\n",
    "  rates.forEach((r, i) => {\n",
    "    const x = 44 + (w - 50) * i / 119, y = h - 16 - (h - 26) * r / top;\n",
    "    if (i) g.lineTo(x, y); else g.moveTo(x, y);\n",
    "  });\n",
    "  g.stroke();\n",
    "}\n",
    "function cell(tr, cls) { const td = document.createElement('td'); td.className = cls; tr.appendChild(td); return td; }\n",
    "function renderOps(ops) {\n",
    "  const body = $('ops').tBodies[0];\n",
    "  for (const o of ops) {\n",
    "    let tr = null;\n",
    "    for (const r of body.rows) if (r.getAttribute('data-op') === o.name) tr = r;\n",
    "    if (!tr) {\n",
    "      tr = document.createElement('tr'); tr.setAttribute('data-op', o.name);\n",
    "      cell(tr, 'name').textContent = o.name;\n",
    "      for (const c of ['attempts', 'successes', 'failures', 'retried', 'health', 'exec50', 'exec99', 'wait50', 'wait99', 'state']) cell(tr, c);\n",
    "      const ctl = cell(tr, 'controls');\n",
    "      for (const cmd of ['pause', 'resume', 'drain', 'kill']) {\n",
    "        const b = document.createElement('button'); b.textContent = cmd; b.setAttribute('data-cmd', cmd);\n",
    "        b.onclick = () => { if (ws) ws.send(cmd + ' ' + o.name); };\n",
    "        ctl.appendChild(b);\n",
    "      }\n",
    "      body.appendChild(tr);\n",
    "    }\n",
    "    const q = (c) => tr.querySelector('td.' + c);\n",
    "    q('attempts').textContent = o.attempts; q('successes').textContent = o.successes;\n",
    "    q('failures').textContent = o.failures; q('retried').textContent = o.retried; q('health').textContent = o.health;\n",
    "    q('exec50').textContent = ns(o.exec_ns.p50); q('exec99').textContent = ns(o.exec_ns.p99);\n",
    "    q('wait50').textContent = ns(o.wait_ns.p50); q('wait99').textContent = ns(o.wait_ns.p99);\n",
    "    const state = o.blocked ? 'blocked' : o.paused ? 'paused' : 'running';\n",
    "    q('state').textContent = state; q('state').className = 'state ' + state;\n",
    "  }\n",
    "}\n",
    "function renderScopes(groups, domains) {\n",
    "  const body = $('ops').tBodies[0], seen = new Set();\n",
    "  const rows = groups.map((g) => ({ key: 'g' + g.id, name: 'group ' + g.id + (g.parent ? ' (in ' + g.parent + ')' : ''),\n",
    "    joined: g.joined, ended: g.ended, state: g.cancelled ? 'cancelled' : 'live ' + g.live, cmd: 'kill-group ' + g.id }))\n",
    "    .concat(domains.map((d) => ({ key: 'd' + d.lead, name: 'domain of ' + d.lead + ' (core ' + d.core + ')',\n",
    "    joined: '', ended: '', state: d.killed ? 'killed' : 'pending ' + d.pending, cmd: 'kill-domain ' + d.lead })));\n",
    "  for (const r of rows) {\n",
    "    seen.add(r.key);\n",
    "    let tr = null;\n",
    "    for (const x of body.rows) if (x.getAttribute('data-scope') === r.key) tr = x;\n",
    "    if (!tr) {\n",
    "      tr = document.createElement('tr'); tr.setAttribute('data-scope', r.key); tr.className = 'scope';\n",
    "      cell(tr, 'name').textContent = r.name;\n",
    "      for (const c of ['attempts', 'successes', 'failures', 'retried', 'health', 'exec50', 'exec99', 'wait50', 'wait99', 'state']) cell(tr, c);\n",
    "      const b = document.createElement('button'); b.textContent = 'kill'; b.setAttribute('data-cmd', 'kill');\n",
    "      b.onclick = () => { if (ws) ws.send(r.cmd); };\n",
    "      cell(tr, 'controls').appendChild(b);\n",
    "      body.appendChild(tr);\n",
    "    }\n",
    "    tr.querySelector('td.attempts').textContent = r.joined; tr.querySelector('td.successes').textContent = r.ended;\n",
    "    const q = tr.querySelector('td.state'); q.textContent = r.state;\n",
    "    q.className = 'state ' + (r.state === 'cancelled' || r.state === 'killed' ? 'paused' : 'running');\n",
    "  }\n",
    "  for (const x of Array.from(body.rows)) if (x.hasAttribute('data-scope') && !seen.has(x.getAttribute('data-scope'))) x.remove();\n",
    "}\n",
    "$('connect').onclick = connect;\n",
    "$('token').addEventListener('keydown', (e) => { if (e.key === 'Enter') connect(); });\n",
    "drawChart();\n",
    "</script></body></html>\n",
};

/* ---- the server ---- */

#define TG__MON_IN_MAX (TG__HTTP_HEAD_MAX + 64u)   /* a head, or a frame of TG__WS_PAYLOAD_MAX */
#define TG__MON_OUT_MAX (4u << 20)                /* a client that lets more pile up is dropped */
#define TG__MON_LINGER_NS 1000000000              /* reading what a closed client still sends */

enum { TG__CONN_FREE, TG__CONN_HTTP, TG__CONN_WS, TG__CONN_CLOSING, TG__CONN_LINGER };

typedef struct tg__conn {
    int fd;
    int state;               /* TG__CONN_* */
    int authed;              /* WebSocket: a right "auth" arrived */
    int64_t opened;          /* accepted at (the oldest idle one is evicted first) */
    int64_t deadline;        /* a head or a frame must be whole by then, or a
                                closing one sent and closed; 0: none; -1: close
                                at once (dropped) */
    char *out;               /* bytes to send, from out_off */
    size_t out_len, out_off, out_cap;
    size_t in_len;
    tg_scheduler *s;         /* whose allocator holds out (kept by tg__conn_close) */
    uint8_t in[TG__MON_IN_MAX];   /* last: tg__conn_close clears what precedes it */
} tg__conn;

struct tg_monitor {
    tg_scheduler *s;
    int listen_fd, wake_fd, port;
    uint32_t stop;           /* set by tg_monitor_stop (release), read by the server (acquire) */
    char token[129];
    size_t token_len;
    unsigned max_conns, interval_ms;
    int64_t timeout_ns;
    int64_t accept_resume;   /* accept4 ran out of fds: no accept before this (ns) */
    tg__conn *conns;
    struct pollfd *polls;
    char *page;              /* the page's lines joined, page_len + 1 bytes */
    size_t page_len;
    char *json;              /* tg_stats_json's buffer, grown on demand */
    size_t json_cap;
    pthread_t thread;
};

/* The monitor's memory comes from the scheduler's tg_allocator: p (old
   bytes, of which the first `keep` matter) moved to a block of size bytes;
   NULL, with p untouched, when the allocator fails. */
static void *tg__monitor_grow(tg_scheduler *s, void *p, size_t keep, size_t old, size_t size)
{
    void *q = tg__alloc(s, size);
    if (!q) return NULL;
    if (keep) memcpy(q, p, keep);
    tg__free(s, p, old);
    return q;
}

/* Appends n bytes to c's output; drops a client whose backlog is too big. */
static void tg__conn_queue(tg__conn *c, const void *bytes, size_t n)
{
    if (c->state == TG__CONN_FREE || c->state == TG__CONN_LINGER || c->deadline < 0) return;
    if (c->out_off && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_len - c->out_off + n > TG__MON_OUT_MAX) {   /* a slow reader */
        c->state = TG__CONN_CLOSING;
        c->out_off = c->out_len = 0;
        c->deadline = -1;                                    /* close at once */
        return;
    }
    if (c->out_len + n > c->out_cap) {
        if (c->out_off) {
            memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
            c->out_len -= c->out_off;
            c->out_off = 0;
        }
        if (c->out_len + n > c->out_cap) {
            size_t cap = c->out_cap ? c->out_cap : 4096;
            while (cap < c->out_len + n) cap *= 2;
            char *grown = (char *)tg__monitor_grow(c->s, c->out, c->out_len, c->out_cap, cap);
            if (!grown) { c->state = TG__CONN_CLOSING; c->deadline = -1; return; }
            c->out = grown;
            c->out_cap = cap;
        }
    }
    memcpy(c->out + c->out_len, bytes, n);
    c->out_len += n;
}

/* A whole HTTP response; the connection closes once it is sent. */
static void tg__conn_respond(tg__conn *c, int status, const char *content_type, const char *extra,
                             const char *body, size_t body_len)
{
    const char *reason = status == 200 ? "OK" : status == 400 ? "Bad Request" : status == 401 ? "Unauthorized" :
                         status == 404 ? "Not Found" : status == 405 ? "Method Not Allowed" :
                         status == 408 ? "Request Timeout" : status == 413 ? "Content Too Large" :
                         status == 414 ? "URI Too Long" : status == 426 ? "Upgrade Required" :
                         status == 431 ? "Request Header Fields Too Large" :
                         status == 503 ? "Service Unavailable" : status == 505 ? "HTTP Version Not Supported" :
                         "Error";
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%sConnection: close\r\n\r\n",
                     status, reason, content_type, body_len, extra ? extra : "");
    tg__conn_queue(c, head, (size_t)n);
    tg__conn_queue(c, body, body_len);
    if (c->state != TG__CONN_FREE) c->state = TG__CONN_CLOSING;
    c->deadline = 0;
}

static void tg__conn_error(tg__conn *c, int status)
{
    char body[64];
    int n = snprintf(body, sizeof body, "%d\n", status);
    tg__conn_respond(c, status, "text/plain; charset=utf-8",
                     status == 426 ? "Sec-WebSocket-Version: 13\r\n" :
                     status == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL,
                     body, (size_t)n);
}

/* The head of a final, unmasked (server-to-client) frame of n payload
   bytes; returns its length. */
static size_t tg__ws_frame_head(uint8_t head[10], unsigned opcode, size_t n)
{
    head[0] = (uint8_t)(0x80u | opcode);
    if (n < 126) { head[1] = (uint8_t)n; return 2; }
    if (n <= 0xffffu) { head[1] = 126; head[2] = (uint8_t)(n >> 8); head[3] = (uint8_t)n; return 4; }
    head[1] = 127;
    for (int k = 0; k < 8; k++) head[2 + k] = (uint8_t)((uint64_t)n >> (56 - 8 * k));
    return 10;
}

static void tg__ws_send(tg__conn *c, unsigned opcode, const void *payload, size_t n)
{
    uint8_t head[10];
    tg__conn_queue(c, head, tg__ws_frame_head(head, opcode, n));
    tg__conn_queue(c, payload, n);
}

/* Sends a close frame with code; the connection closes once it is sent. */
static void tg__ws_close(tg__conn *c, unsigned code)
{
    uint8_t body[2] = { (uint8_t)(code >> 8), (uint8_t)code };
    tg__ws_send(c, 0x8, body, 2);
    if (c->state != TG__CONN_FREE) c->state = TG__CONN_CLOSING;
    c->deadline = 0;
}

/* Token comparison in time that depends only on the token's length. */
static int tg__monitor_token_ok(const tg_monitor *m, const char *given, size_t n)
{
    volatile unsigned diff = (unsigned)(n != m->token_len);
    for (size_t i = 0; i < m->token_len; i++)
        diff |= (unsigned char)m->token[i] ^ (unsigned char)(i < n ? given[i] : 0);
    return diff == 0;
}

/* The token of a request: "Authorization: Bearer <token>", else a
   "token=<token>" query parameter. */
static int tg__monitor_request_authed(const tg_monitor *m, const tg__http_request *req)
{
    if (strncmp(req->authorization, "Bearer ", 7) == 0 || strncmp(req->authorization, "bearer ", 7) == 0)
        return tg__monitor_token_ok(m, req->authorization + 7, strlen(req->authorization + 7));
    const char *q = req->query;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        if (n >= 6 && memcmp(q, "token=", 6) == 0) return tg__monitor_token_ok(m, q + 6, n - 6);
        q += n + (amp ? 1 : 0);
    }
    return 0;
}

/* An export (tg_stats_json or tg_stats_prometheus) in m->json, grown as
   needed; NULL if memory ran out. */
static const char *tg__monitor_export(tg_monitor *m, int (*export_fn)(tg_scheduler *, char *, size_t, size_t *),
                                      size_t *len)
{
    for (;;) {
        int rc = export_fn(m->s, m->json, m->json_cap, len);
        if (rc == TG_OK) return m->json;
        if (rc != TG_ERANGE) return NULL;
        size_t cap = *len + 1024;
        char *grown = (char *)tg__monitor_grow(m->s, m->json, 0, m->json_cap, cap);
        if (!grown) return NULL;
        m->json = grown;
        m->json_cap = cap;
    }
}

/* The stats as a JSON text in m->json; NULL if memory ran out. */
static const char *tg__monitor_json(tg_monitor *m, size_t *len) { return tg__monitor_export(m, tg_stats_json, len); }

/* A stats frame around json (tg__monitor_json's text, taken once per tick
   for every client). */
static void tg__monitor_send_stats(tg__conn *c, const char *json, size_t len)
{
    if (!json) return;
    static const char pre[] = "{\"type\":\"stats\",\"stats\":";
    uint8_t head[10];
    tg__conn_queue(c, head, tg__ws_frame_head(head, 0x1, sizeof pre - 1 + len + 1));
    tg__conn_queue(c, pre, sizeof pre - 1);
    tg__conn_queue(c, json, len);
    tg__conn_queue(c, "}", 1);
}

/* A text message from an authenticated or authenticating client. */
static void tg__monitor_command(tg_monitor *m, tg__conn *c, const char *msg, size_t n)
{
    char verb[16];
    size_t v = 0;
    while (v < n && msg[v] != ' ' && v < sizeof verb - 1) { verb[v] = msg[v]; v++; }
    verb[v] = '\0';
    const char *arg = v < n && msg[v] == ' ' ? msg + v + 1 : msg + n;
    size_t arg_len = (size_t)(msg + n - arg);
    if (strcmp(verb, "auth") == 0) {
        c->authed = tg__monitor_token_ok(m, arg, arg_len);
        const char *reply = c->authed ? "{\"type\":\"auth\",\"ok\":true}" : "{\"type\":\"auth\",\"ok\":false}";
        tg__ws_send(c, 0x1, reply, strlen(reply));
        if (c->authed) {
            size_t len;
            const char *json = tg__monitor_json(m, &len);
            tg__monitor_send_stats(c, json, len);
        } else {
            tg__ws_close(c, 1008);
        }
        return;
    }
    if (!c->authed) {
        static const char reply[] = "{\"type\":\"error\",\"error\":\"send auth <token> first\"}";
        tg__ws_send(c, 0x1, reply, sizeof reply - 1);
        tg__ws_close(c, 1008);
        return;
    }
    static const struct { const char *verb; int (*fn)(tg_scheduler *, const char *); } cmds[] = {
        { "pause", tg_op_pause }, { "resume", tg_op_resume }, { "drain", tg_op_drain },
        { "kill", tg_op_kill }, { "unblock", tg_op_unblock },
        { "kill-group", tg__group_kill_id }, { "kill-domain", tg__domain_kill_lead },
    };
    int rc = TG_EINVAL;
    const char *error = "unknown command";
    char op[256];
    int known = 0;
    for (unsigned k = 0; k < sizeof cmds / sizeof cmds[0]; k++) {
        if (strcmp(verb, cmds[k].verb) != 0) continue;
        known = 1;
        if (arg_len == 0 || arg_len >= sizeof op) { error = "give one op name or id"; break; }
        memcpy(op, arg, arg_len);
        op[arg_len] = '\0';
        rc = strlen(op) == arg_len ? cmds[k].fn(m->s, op) : TG_EINVAL;
        error = tg_strerror(rc);
    }
    char reply[2048];   /* an op name of < 256 bytes escaped (at most 6 bytes each) fits */
    tg__text t = { reply, sizeof reply, 0 };
    tg__text_printf(&t, "{\"type\":\"reply\",\"cmd\":\"%s\",\"rc\":%d,\"op\":", known ? verb : "?", rc);
    if (known && arg_len && arg_len < sizeof op) tg__text_json_string(&t, op);
    else tg__text_printf(&t, "null");
    tg__text_printf(&t, ",\"error\":");
    tg__text_json_string(&t, error);
    tg__text_printf(&t, "}");
    if (t.len < t.cap) tg__ws_send(c, 0x1, reply, t.len);
}

static void tg__conn_close(tg__conn *c)
{
    if (c->fd >= 0) close(c->fd);
    tg__free(c->s, c->out, c->out_cap);
    memset(c, 0, offsetof(tg__conn, s));
    c->fd = -1;
    c->state = TG__CONN_FREE;
}

/* A whole request head arrived: answer it, or switch to WebSocket. */
static void tg__monitor_request(tg_monitor *m, tg__conn *c)
{
    tg__http_request req;
    int rc = tg__http_parse((const char *)c->in, c->in_len, &req);
    if (rc == 0) return;
    if (rc < 0) { tg__conn_error(c, -rc); return; }
    size_t head = (size_t)rc;
    if (strcmp(req.path, "/") == 0 || strcmp(req.path, "/index.html") == 0) {
        tg__conn_respond(c, 200, "text/html; charset=utf-8", NULL, m->page, m->page_len);
    } else if (strcmp(req.path, "/metrics") == 0 || strcmp(req.path, "/stats.json") == 0) {
        if (!tg__monitor_request_authed(m, &req)) { tg__conn_error(c, 401); return; }
        int prometheus = req.path[1] == 'm';
        size_t len = 0;
        const char *text = tg__monitor_export(m, prometheus ? tg_stats_prometheus : tg_stats_json, &len);
        if (!text) { tg__conn_error(c, 503); return; }
        tg__conn_respond(c, 200, prometheus ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
                         NULL, text, len);
    } else if (strcmp(req.path, "/ws") == 0) {
        if (!req.upgrade_websocket) { tg__conn_error(c, 400); return; }
        if (req.ws_version != 13) { tg__conn_error(c, 426); return; }
        if (!tg__ws_key_valid(req.ws_key)) { tg__conn_error(c, 400); return; }
        char key[64 + 36];
        uint8_t digest[20];
        char accept[32];
        size_t key_len = strlen(req.ws_key);
        memcpy(key, req.ws_key, key_len);
        memcpy(key + key_len, "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", 36);
        tg__sha1(key, key_len + 36, digest);
        tg__base64(digest, 20, accept);
        char reply[256];
        int n = snprintf(reply, sizeof reply,
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
        tg__conn_queue(c, reply, (size_t)n);
        c->state = TG__CONN_WS;
        c->deadline = 0;
        /* bytes after the head are the first frames */
        memmove(c->in, c->in + head, c->in_len - head);
        c->in_len -= head;
    } else {
        tg__conn_error(c, 404);
    }
}

/* Handles the whole frames in c->in. */
static void tg__monitor_frames(tg_monitor *m, tg__conn *c, int64_t now)
{
    while (c->state == TG__CONN_WS) {
        tg__ws_frame f;
        int rc = tg__ws_parse(c->in, c->in_len, TG__WS_PAYLOAD_MAX, &f);
        if (rc == 0) {
            /* a partial frame must be whole within the client timeout */
            if (c->in_len == 0) c->deadline = 0;
            else if (c->deadline == 0) c->deadline = now + m->timeout_ns;
            return;
        }
        if (rc < 0) { tg__ws_close(c, (unsigned)-rc); return; }
        c->deadline = 0;
        uint8_t *payload = c->in + f.header_len;
        size_t n = (size_t)f.payload_len;
        tg__ws_unmask(payload, n, f.mask, 0);
        if (f.opcode == 0x8) {                       /* close: answer and end */
            unsigned code = 1000;
            if (n >= 2) code = (unsigned)payload[0] << 8 | payload[1];
            if (n == 1 || code < 1000 || code == 1004 || code == 1005 || code == 1006 || code >= 5000 ||
                (code >= 1016 && code < 3000))
                code = 1002;
            tg__ws_close(c, code);
        } else if (f.opcode == 0x9) {                /* ping */
            tg__ws_send(c, 0xA, payload, n);
        } else if (f.opcode == 0xA) {                /* pong: nothing to do */
        } else if (f.opcode != 0x1 || !f.fin) {      /* binary or fragmented: not spoken here */
            tg__ws_close(c, 1003);
        } else {
            size_t k = 0, step;
            while (k < n && (step = tg__utf8_sequence(payload + k, n - k)) != 0) k += step;
            if (k < n) tg__ws_close(c, 1007);
            else tg__monitor_command(m, c, (const char *)payload, n);
        }
        memmove(c->in, c->in + rc, c->in_len - (size_t)rc);
        c->in_len -= (size_t)rc;
    }
}

/* Reads what the client sent and acts on it. */
static void tg__monitor_read(tg_monitor *m, tg__conn *c, int64_t now)
{
    for (;;) {
        if (c->state == TG__CONN_CLOSING) return;
        if (c->state == TG__CONN_LINGER) {        /* discard until the client closes */
            char sink[4096];
            ssize_t r = recv(c->fd, sink, sizeof sink, 0);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) tg__conn_close(c);
            if (r <= 0) return;
            continue;
        }
        if (c->in_len == sizeof c->in) {
            /* full: a head too long, or a frame bigger than allowed */
            if (c->state == TG__CONN_HTTP) tg__conn_error(c, 431);
            else tg__ws_close(c, 1009);
            return;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
        if (r == 0) { tg__conn_close(c); return; }
        if (r < 0) {
            if (errno != EAGAIN && errno != EINTR) tg__conn_close(c);
            return;
        }
        c->in_len += (size_t)r;
        if (c->state == TG__CONN_HTTP) tg__monitor_request(m, c);
        if (c->state == TG__CONN_WS) tg__monitor_frames(m, c, now);
    }
}

/* Sends what is queued; a closing connection that sent everything stops
   writing and lingers, reading, so the client sees the answer whole. */
static void tg__monitor_flush(tg__conn *c, int64_t now)
{
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            tg__conn_close(c);
            return;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    if (c->state == TG__CONN_CLOSING) {
        if (c->deadline < 0) { tg__conn_close(c); return; }   /* dropped: no linger */
        shutdown(c->fd, SHUT_WR);
        c->state = TG__CONN_LINGER;
        c->deadline = now + TG__MON_LINGER_NS;
    }
}

/* Every slot taken: the oldest connection that has not proven itself (an
   HTTP head not yet whole, a WebSocket not yet authenticated) makes room,
   so idle clients cannot lock the operator out. NULL: all are serving. */
static tg__conn *tg__monitor_evict(tg_monitor *m)
{
    tg__conn *oldest = NULL;
    for (unsigned i = 0; i < m->max_conns; i++) {
        tg__conn *c = &m->conns[i];
        int idle = c->state == TG__CONN_HTTP || (c->state == TG__CONN_WS && !c->authed);
        if (idle && (!oldest || c->opened < oldest->opened)) oldest = c;
    }
    if (oldest) tg__conn_close(oldest);
    return oldest;
}

#define TG__MON_FD_BACKOFF_NS 100000000   /* out of fds: retry accept after 100 ms */

static void tg__monitor_accept(tg_monitor *m, int64_t now)
{
    for (;;) {
        int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* out of fds (or memory): the pending client stays queued and
               the listening socket readable, so back off instead of
               polling it again at once; the connections we have go on */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                m->accept_resume = now + TG__MON_FD_BACKOFF_NS;
            return;   /* EAGAIN, or a transient error: poll again */
        }
        tg__conn *c = NULL;
        for (unsigned i = 0; i < m->max_conns && !c; i++)
            if (m->conns[i].state == TG__CONN_FREE) c = &m->conns[i];
        if (!c) c = tg__monitor_evict(m);
        if (!c) {   /* too many serving connections: a best-effort 503, then close */
            static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                       "Connection: close\r\n\r\n";
            ssize_t ignored = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            (void)ignored;
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = TG__CONN_HTTP;
        c->authed = 0;
        c->in_len = 0;
        c->opened = now;
        c->deadline = now + m->timeout_ns;
    }
}

/* Fills m->polls (the listener, the wake fd, then each connection in use)
   and returns how many; *wake: the earliest deadline to wake for. */
static nfds_t tg__monitor_polls(tg_monitor *m, int64_t now, int64_t *wake)
{
    nfds_t n = 0;
    int accepting = now >= m->accept_resume;
    if (!accepting && m->accept_resume < *wake) *wake = m->accept_resume;
    m->polls[n].fd = m->listen_fd; m->polls[n].events = accepting ? POLLIN : 0; n++;
    m->polls[n].fd = m->wake_fd; m->polls[n].events = POLLIN; n++;
    for (unsigned i = 0; i < m->max_conns; i++) {
        tg__conn *c = &m->conns[i];
        if (c->state == TG__CONN_FREE) continue;
        if (c->deadline > 0 && c->deadline < *wake) *wake = c->deadline;
        m->polls[n].fd = c->fd;
        m->polls[n].events = (short)((c->state != TG__CONN_CLOSING ? POLLIN : 0) |
                                     (c->out_off < c->out_len ? POLLOUT : 0));
        n++;
    }
    return n;
}

/* What poll reported, in the order tg__monitor_polls filled it. */
static void tg__monitor_events(tg_monitor *m, int64_t now)
{
    if (m->polls[1].revents & POLLIN) {
        uint64_t value;
        ssize_t ignored = read(m->wake_fd, &value, sizeof value);
        (void)ignored;
    }
    nfds_t k = 2;
    for (unsigned i = 0; i < m->max_conns; i++) {
        tg__conn *c = &m->conns[i];
        if (c->state == TG__CONN_FREE) continue;
        short re = m->polls[k++].revents;
        if (re & POLLNVAL) { tg__conn_close(c); continue; }
        if (re & (POLLIN | POLLHUP | POLLERR)) tg__monitor_read(m, c, now);
        if (c->state != TG__CONN_FREE && (re & POLLOUT || c->out_off < c->out_len ||
                                          c->state == TG__CONN_CLOSING))
            tg__monitor_flush(c, now);
    }
    if (m->polls[0].revents & POLLIN) tg__monitor_accept(m, now);
}

/* Deadlines: a head or frame too slow, a linger over. */
static void tg__monitor_deadlines(tg_monitor *m, int64_t now)
{
    for (unsigned i = 0; i < m->max_conns; i++) {
        tg__conn *c = &m->conns[i];
        if (c->state == TG__CONN_FREE) continue;
        if (c->state == TG__CONN_CLOSING && c->deadline < 0) { tg__conn_close(c); continue; }
        if (c->state == TG__CONN_CLOSING && c->deadline == 0) {   /* the answer must leave in time */
            c->deadline = now + m->timeout_ns;
            continue;
        }
        if (c->deadline <= 0 || c->deadline > now) continue;
        if (c->state == TG__CONN_HTTP) { tg__conn_error(c, 408); tg__monitor_flush(c, now); }
        else if (c->state == TG__CONN_WS) { tg__ws_close(c, 1008); tg__monitor_flush(c, now); }
        else tg__conn_close(c);
    }
}

/* A tick: the stats, taken once, to every authenticated WebSocket client. */
static void tg__monitor_tick(tg_monitor *m, int64_t now)
{
    const char *json = NULL;
    size_t len = 0;
    for (unsigned i = 0; i < m->max_conns; i++) {
        tg__conn *c = &m->conns[i];
        if (c->state == TG__CONN_WS && c->authed) {
            if (!json) json = tg__monitor_json(m, &len);
            tg__monitor_send_stats(c, json, len);
            tg__monitor_flush(c, now);
        }
    }
}

static void *tg__monitor_main(void *arg)
{
    tg_monitor *m = (tg_monitor *)arg;
    int64_t interval = (int64_t)m->interval_ms * 1000000;
    int64_t next_tick = tg__now_ns() + interval;
    /* acquire: pairs with the release store in tg_monitor_stop */
    while (!TG__LOAD_ACQUIRE(&m->stop)) {
        int64_t now = tg__now_ns();
        int64_t wake = next_tick;
        nfds_t n = tg__monitor_polls(m, now, &wake);
        int64_t wait_ms = wake > now ? (wake - now + 999999) / 1000000 : 0;
        int ready = poll(m->polls, n, (int)(wait_ms > 60000 ? 60000 : wait_ms));
        now = tg__now_ns();
        if (ready > 0) tg__monitor_events(m, now);
        tg__monitor_deadlines(m, now);
        if (now >= next_tick) {
            tg__monitor_tick(m, now);
            next_tick += interval;
            if (next_tick < now) next_tick = now + interval;
        }
    }
    return NULL;
}

static void tg__monitor_free(tg_monitor *m)
{
    if (m->conns)
        for (unsigned i = 0; i < m->max_conns; i++)
            if (m->conns[i].state != TG__CONN_FREE) tg__conn_close(&m->conns[i]);
    if (m->listen_fd >= 0) close(m->listen_fd);
    if (m->wake_fd >= 0) close(m->wake_fd);
    tg_scheduler *s = m->s;
    tg__free(s, m->conns, sizeof *m->conns * m->max_conns);
    tg__free(s, m->polls, sizeof *m->polls * (m->max_conns + 2));
    tg__free(s, m->page, m->page_len + 1);
    tg__free(s, m->json, m->json_cap);
    tg__free(s, m, sizeof *m);
}

/* The options in effect (0: the default) and the address to bind;
   TG_EINVAL for a value out of range. */
static int tg__monitor_options(const tg_monitor_options *opts, tg_monitor_options *o, struct sockaddr_in *addr)
{
    if (opts) *o = *opts;
    else memset(o, 0, sizeof *o);
    if (o->port == 0) o->port = 5000;
    if (o->port < TG_MONITOR_ANY_PORT || o->port > 65535) return TG_EINVAL;
    if (o->max_connections == 0) o->max_connections = 16;
    if (o->max_connections > 1024) return TG_EINVAL;
    if (o->interval_ms == 0) o->interval_ms = 500;
    if (o->interval_ms < 50 || o->interval_ms > 60000) return TG_EINVAL;
    if (o->client_timeout_ms == 0) o->client_timeout_ms = 5000;
    if (o->client_timeout_ms > 3600000) return TG_EINVAL;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)(o->port == TG_MONITOR_ANY_PORT ? 0 : o->port));
    if (inet_pton(AF_INET, o->address ? o->address : "127.0.0.1", &addr->sin_addr) != 1) return TG_EINVAL;
    if (o->access_token) {
        size_t n = strlen(o->access_token);
        if (n == 0 || n > 128) return TG_EINVAL;
        for (size_t i = 0; i < n; i++)
            if (o->access_token[i] <= 0x20 || o->access_token[i] >= 0x7f) return TG_EINVAL;
    }
    return TG_OK;
}

/* The monitor's tables and the page's text; TG_ENOMEM. */
static int tg__monitor_tables(tg_monitor *m)
{
    size_t page_len = 0;
    for (size_t i = 0; i < sizeof tg__monitor_page / sizeof tg__monitor_page[0]; i++)
        page_len += strlen(tg__monitor_page[i]);
    m->conns = (tg__conn *)tg__alloc_zero(m->s, sizeof *m->conns * m->max_conns);
    m->polls = (struct pollfd *)tg__alloc_zero(m->s, sizeof *m->polls * (m->max_conns + 2));
    m->page = (char *)tg__alloc(m->s, page_len + 1);
    if (m->page) m->page_len = page_len;   /* tg__monitor_free's size */
    if (!m->conns || !m->polls || !m->page) return TG_ENOMEM;
    for (unsigned i = 0; i < m->max_conns; i++) {
        m->conns[i].fd = -1;
        m->conns[i].s = m->s;
    }
    size_t at = 0;
    for (size_t i = 0; i < sizeof tg__monitor_page / sizeof tg__monitor_page[0]; i++) {
        size_t n = strlen(tg__monitor_page[i]);
        memcpy(m->page + at, tg__monitor_page[i], n);
        at += n;
    }
    m->page[at] = '\0';
    return TG_OK;
}

/* The access token: the configured one, or 32 random hex digits. */
static int tg__monitor_token(tg_monitor *m, const char *configured)
{
    if (configured) {
        m->token_len = strlen(configured);
        memcpy(m->token, configured, m->token_len + 1);
        return TG_OK;
    }
    uint8_t random[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, random, sizeof random) : -1;
    if (fd >= 0) close(fd);
    if (got != (ssize_t)sizeof random) return TG_ESYSTEM;
    for (int i = 0; i < 16; i++) snprintf(m->token + 2 * i, 3, "%02x", random[i]);
    m->token_len = 32;
    return TG_OK;
}

/* The listening socket (bound, listening; *addr gets the port) and the
   wake-up eventfd; TG_ESYSTEM with errno kept. */
static int tg__monitor_listen(tg_monitor *m, struct sockaddr_in *addr)
{
    int one = 1;
    m->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (m->listen_fd < 0 || m->wake_fd < 0 ||
        setsockopt(m->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(m->listen_fd, (struct sockaddr *)addr, sizeof *addr) != 0 || listen(m->listen_fd, 64) != 0)
        return TG_ESYSTEM;
    socklen_t alen = sizeof *addr;
    if (getsockname(m->listen_fd, (struct sockaddr *)addr, &alen) != 0) return TG_ESYSTEM;
    m->port = ntohs(addr->sin_port);
    return TG_OK;
}

TG_API int tg_monitor_start(tg_scheduler *s, const tg_monitor_options *opts, tg_monitor **out)
{
    if (!out) return TG_EINVAL;
    *out = NULL;
    if (!s) return TG_EINVAL;
    tg_monitor_options o;
    struct sockaddr_in addr;
    int rc = tg__monitor_options(opts, &o, &addr);
    if (rc != TG_OK) return rc;
    tg_monitor *m = (tg_monitor *)tg__alloc_zero(s, sizeof *m);
    if (!m) return TG_ENOMEM;
    m->s = s;
    m->listen_fd = m->wake_fd = -1;
    m->max_conns = o.max_connections;
    m->interval_ms = o.interval_ms;
    m->timeout_ns = (int64_t)o.client_timeout_ms * 1000000;
    rc = tg__monitor_tables(m);
    if (rc == TG_OK) rc = tg__monitor_token(m, o.access_token);
    if (rc == TG_OK) rc = tg__monitor_listen(m, &addr);
    if (rc == TG_OK && pthread_create(&m->thread, NULL, tg__monitor_main, m) != 0) rc = TG_ESYSTEM;
    if (rc != TG_OK) {
        int saved = errno;
        tg__monitor_free(m);
        errno = saved;
        return rc;
    }
    if (!o.quiet) {
        char host[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host);
        if (o.access_token) fprintf(stderr, "tokengate monitor: http://%s:%d/\n", host, m->port);
        else fprintf(stderr, "tokengate monitor: http://%s:%d/  access token: %s\n", host, m->port, m->token);
    }
    *out = m;
    return TG_OK;
}

TG_API int tg_monitor_port(const tg_monitor *m) { return m ? m->port : -1; }
TG_API const char *tg_monitor_token(const tg_monitor *m) { return m ? m->token : NULL; }

TG_API void tg_monitor_stop(tg_monitor *m)
{
    if (!m) return;
    /* release: pairs with the acquire load in the server's loop */
    TG__STORE_RELEASE(&m->stop, 1u);
    uint64_t one = 1;
    ssize_t ignored = write(m->wake_fd, &one, sizeof one);
    (void)ignored;
    pthread_join(m->thread, NULL);
    tg__monitor_free(m);
}

#endif /* TOKENGATE_MONITOR */

/* ------------------------------------------------------------------------ */
/* Lifecycle: configuration, create, shutdown, destroy                      */
/* ------------------------------------------------------------------------ */
/* >>lifecycle */

/* The smallest power of two >= n (n <= 1u << 31). */
static uint32_t tg__pow2_at_least(uint32_t n)
{
    uint32_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

/* The defaults and ranges of tg_config's numeric fields: the one table in
   the code. Section 4 of the documentation shows the same values, and a
   check of `make test` (tests/lint.py) holds the two together. */
typedef struct tg__config_field {
    const char *name;
    size_t offset, size;       /* of the field in tg_config (unsigned or size_t) */
    uint64_t fallback;         /* the default, for 0 */
    uint64_t lo, hi;           /* the range of a value given */
    int pow2;                  /* rounded up to a power of two */
} tg__config_field;

#define TG__CONFIG_FIELD(field, fallback, lo, hi, pow2) \
    { #field, offsetof(tg_config, field), sizeof(((tg_config *)0)->field), fallback, lo, hi, pow2 }
static const tg__config_field tg__config_fields[] = {
    TG__CONFIG_FIELD(mailbox_capacity, 4096, 2, 1u << 24, 1),
    TG__CONFIG_FIELD(max_tokens, 4194304, 1, TG_MAX_TOKENS, 0),
    TG__CONFIG_FIELD(max_args_size, 65536, 1, 1u << 30, 0),
    TG__CONFIG_FIELD(sticky_capacity, 4096, 1, 1u << 20, 1),
    TG__CONFIG_FIELD(max_domains, 4096, 1, 1u << 20, 0),
    TG__CONFIG_FIELD(max_ops, 256, 1, 65536, 0),
    TG__CONFIG_FIELD(dedupe_capacity, 4096, 1, 1u << 20, 1),
    TG__CONFIG_FIELD(max_spare_workers, 256, 1, 65536, 0),
    TG__CONFIG_FIELD(stack_size, 8u << 20, 64u << 10, 1u << 30, 0),
};
/* tier_caps[TG_IO_SLOW .. TG_IO_INSANE], range 1 .. 65535 */
static const unsigned tg__tier_caps_default[TG__TIERS] = { 0, 10, 25, 50, 70 };

static int tg__config_field_resolve(tg_config *c, const tg__config_field *f)
{
    unsigned char *at = (unsigned char *)c + f->offset;
    uint64_t v;
    if (f->size == sizeof(size_t)) { size_t x; memcpy(&x, at, sizeof x); v = x; }
    else { unsigned x; memcpy(&x, at, sizeof x); v = x; }
    if (v == 0) v = f->fallback;
    if (v < f->lo || v > f->hi) return TG_EINVAL;
    if (f->pow2) v = tg__pow2_at_least((uint32_t)v);
    if (f->size == sizeof(size_t)) { size_t x = (size_t)v; memcpy(at, &x, sizeof x); }
    else { unsigned x = (unsigned)v; memcpy(at, &x, sizeof x); }
    return TG_OK;
}

/* The configuration in effect: `in` (or all zeros) with every 0 replaced by
   its default; TG_EINVAL for a value out of its range. */
static int tg__config_resolve(const tg_config *in, tg_config *out)
{
    if (in) *out = *in;
    else memset(out, 0, sizeof *out);
    if (out->workers > TG_MAX_WORKERS) return TG_EINVAL;
    for (size_t i = 0; i < sizeof tg__config_fields / sizeof tg__config_fields[0]; i++)
        if (tg__config_field_resolve(out, &tg__config_fields[i]) != TG_OK) return TG_EINVAL;
    out->tier_caps[0] = 0;
    for (int i = 1; i < TG__TIERS; i++) {
        if (out->tier_caps[i] == 0) out->tier_caps[i] = tg__tier_caps_default[i];
        if (out->tier_caps[i] > 65535) return TG_EINVAL;
    }
    if (out->full_policy != TG_FULL_BLOCK && out->full_policy != TG_FULL_REJECT) return TG_EINVAL;
    if (!out->allocator.alloc != !out->allocator.free) return TG_EINVAL;
    return TG_OK;
}

/* The thread table: a cache-line-aligned entry per thread there may be,
   each with room for the handles of the functions on its stack. Stacks
   of stack_size bytes: waits nest runs at most depth_soft deep (a spare
   takes over past it), or depth_hard once no spare can be had; 32 and 16
   KiB of stack a level. */
static size_t tg__threads_bytes(tg_scheduler *s)
{
    return (sizeof(tg__thread) + sizeof(uint64_t) * (s->depth_hard + 2u)) * s->thread_limit + TG__CACHE_LINE;
}

static int tg__threads_init(tg_scheduler *s)
{
    s->thread_limit = s->nworkers + s->cfg.max_spare_workers;
    s->depth_soft = (unsigned)(s->cfg.stack_size / (32u << 10));
    s->depth_hard = (unsigned)(s->cfg.stack_size / (16u << 10));
    if (!(s->threads_raw = tg__alloc_zero(s, tg__threads_bytes(s)))) return TG_ENOMEM;
    s->threads = (tg__thread *)tg__align_line(s->threads_raw);
    uint64_t *tokens = (uint64_t *)(void *)(s->threads + s->thread_limit);
    for (unsigned i = 0; i < s->thread_limit; i++) {
        s->threads[i].stack_tokens = tokens + (size_t)i * (s->depth_hard + 2u);
        s->threads[i].cpu = -1;
        s->threads[i].sched = s;
    }
    pthread_mutex_init(&s->pool_lock, NULL);
    return TG_OK;
}

static void tg__scheduler_free(tg_scheduler *s)
{
    if (s->workers) {
        for (unsigned i = 0; i < s->nworkers; i++) {
            tg__worker *w = s->workers[i];
            if (!w) continue;
            tg__free(s, w->mailbox.cells, sizeof(tg__cell) * s->cfg.mailbox_capacity);
            tg__free(s, w->pinned.cells, sizeof(tg__cell) * s->cfg.mailbox_capacity);
            tg__free(s, w->opc, sizeof(tg__opcount) * s->cfg.max_ops);
            tg__free(s, w->oph, sizeof(tg__ophist) * s->cfg.max_ops);
            tg__free(s, w->raw, sizeof(tg__worker) + TG__CACHE_LINE);
        }
        tg__free(s, s->workers, sizeof(tg__worker *) * s->nworkers);
    }
    if (s->free_ring.cells) tg__free(s, s->free_ring.cells, sizeof(tg__cell) * (s->free_ring.mask + 1));
    if (s->chunks) {
        uint32_t fresh = s->fresh < s->slot_capacity ? s->fresh : s->slot_capacity;
        for (uint32_t i = 0; i < fresh; i++) {
            if (!s->chunks[i >> TG__CHUNK_SHIFT]) continue;
            tg__slot *sl = tg__slot_at(s, i);
            tg__args_buffer_drop(s, sl);
        }
    }
    if (s->chunk_raw)
        for (uint32_t k = 0; k < s->chunk_count; k++)
            tg__free(s, s->chunk_raw[k], sizeof(tg__slot) * TG__CHUNK_SLOTS + TG__CACHE_LINE);
    tg__free(s, s->chunks, sizeof(tg__slot *) * s->chunk_count);
    tg__free(s, s->chunk_raw, sizeof(void *) * s->chunk_count);
    if (s->ops) {
        for (uint32_t i = 0; i < s->op_count; i++)
            if (s->ops[i].name_size) tg__free(s, (void *)(uintptr_t)s->ops[i].name, s->ops[i].name_size);
        for (uint32_t i = 0; i < s->cfg.max_ops; i++) pthread_mutex_destroy(&s->ops[i].lock);
        tg__free(s, s->ops_raw, sizeof(tg__opent) * s->cfg.max_ops + TG__CACHE_LINE);
    }
    tg__free(s, s->op_hash, sizeof(uint32_t) * (s->op_hash_mask + 1));
    if (s->threads_raw) {
        tg__free(s, s->threads_raw, tg__threads_bytes(s));
        pthread_mutex_destroy(&s->pool_lock);
    }
    pthread_mutex_destroy(&s->ops_lock);
    tg__tiers_free(s);
    tg__dedupe_free(s);
    tg__deptab_free(s);
    tg__groups_free(s);
    tg__free(s, s->on_list, 2u * (size_t)s->cfg.max_tokens);
    tg__free(s, s->sticky, sizeof(uint64_t) * s->cfg.sticky_capacity);
    tg__free(s, s->domains, sizeof(tg__domain) * s->cfg.max_domains);
    if (s->event_fd >= 0) close(s->event_fd);
    pthread_mutex_destroy(&s->shutdown_lock);
    pthread_mutex_destroy(&s->notify_lock);
    tg_allocator allocator = s->cfg.allocator;
    void *raw = s->raw;
    if (allocator.free) allocator.free(raw, sizeof *s + TG__CACHE_LINE, allocator.user);
    else free(raw);
}

static void tg__workers_join(tg_scheduler *s)
{
    TG__STORE_SEQ_CST(&s->stopping, 1u);
    TG__STORE_SEQ_CST(&s->exiting, 1u);
    tg__wake_all_workers(s);
    tg__pool_wake_all(s);
    /* no thread is started from here: a hand-off sees exiting */
    pthread_mutex_lock(&s->pool_lock);
    uint32_t alive = s->threads_alive;
    pthread_mutex_unlock(&s->pool_lock);
    for (uint32_t i = 0; i < alive; i++) {
        tg__thread *t = &s->threads[i];
        if (t->started) {
            pthread_join(t->thread, NULL);
            t->started = 0;
        }
    }
}

static uint64_t tg__serial_next;

/* The scheduler struct, zeroed, with its identity and locks; NULL when the
   allocator fails. The struct holds cache-line-aligned members: aligned
   inside what the allocator gives (which need only be aligned for a
   pointer). */
static tg_scheduler *tg__scheduler_new(const tg_config *c)
{
    size_t bytes = sizeof(tg_scheduler) + TG__CACHE_LINE;
    void *raw = c->allocator.alloc ? c->allocator.alloc(bytes, c->allocator.user) : malloc(bytes);
    if (!raw) return NULL;
    tg_scheduler *s = (tg_scheduler *)tg__align_line(raw);
    memset(s, 0, sizeof *s);
    s->raw = raw;
    s->cfg = *c;
    /* relaxed: only uniqueness matters */
    s->serial = TG__FETCH_ADD_RELAXED(&tg__serial_next, 1) + 1;
    s->handle_tag = (uint32_t)(s->serial & 15u);
    s->handle_key = tg__random32() & ~1u;
    s->fork_generation = TG__LOAD_RELAXED(&tg__fork_generation);
    s->created_ns = tg__now_ns();
    s->event_fd = -1;
    pthread_mutex_init(&s->shutdown_lock, NULL);
    pthread_mutex_init(&s->notify_lock, NULL);
    pthread_mutex_init(&s->ops_lock, NULL);
    pthread_mutex_init(&s->deptab_lock, NULL);
    pthread_mutex_init(&s->group_lock, NULL);
    return s;
}

/* The scheduler's tables. Each is checked as it is allocated (zeroed), so
   tg__scheduler_free may run after any failure. */
static int tg__scheduler_tables(tg_scheduler *s)
{
    const tg_config *c = &s->cfg;
    s->slot_capacity = c->max_tokens;
    s->chunk_count = (c->max_tokens + TG__CHUNK_SLOTS - 1) / TG__CHUNK_SLOTS;
    s->cache_limit = c->max_tokens >= 1024u * s->nworkers ? TG__CACHE_SLOTS : 0;
    s->sticky_mask = c->sticky_capacity - 1;
    s->dedupe_mask = c->dedupe_capacity - 1;
    s->op_hash_mask = tg__pow2_at_least(2 * c->max_ops) - 1;
    uint32_t ring = tg__pow2_at_least(c->max_tokens < TG__FREE_RING_MAX ? c->max_tokens : TG__FREE_RING_MAX);
    if (!(s->chunks = (tg__slot **)tg__alloc_zero(s, sizeof(tg__slot *) * s->chunk_count))) return TG_ENOMEM;
    if (!(s->chunk_raw = (void **)tg__alloc_zero(s, sizeof(void *) * s->chunk_count))) return TG_ENOMEM;
    if (tg__mailbox_init(s, &s->free_ring, ring < 2 ? 2 : ring) != TG_OK) return TG_ENOMEM;
    if (!(s->workers = (tg__worker **)tg__alloc_zero(s, sizeof(tg__worker *) * s->nworkers))) return TG_ENOMEM;
    if (tg__threads_init(s) != TG_OK) return TG_ENOMEM;
    if (!(s->op_hash = (uint32_t *)tg__alloc_zero(s, sizeof(uint32_t) * (s->op_hash_mask + 1)))) return TG_ENOMEM;
    if (!(s->sticky = (uint64_t *)tg__alloc_zero(s, sizeof(uint64_t) * c->sticky_capacity))) return TG_ENOMEM;
    if (!(s->domains = (tg__domain *)tg__alloc_zero(s, sizeof(tg__domain) * c->max_domains))) return TG_ENOMEM;
    if (tg__dedupe_init(s) != TG_OK) return TG_ENOMEM;
    if (tg__tiers_init(s) != TG_OK) return TG_ENOMEM;
#ifdef TG_DEBUG
    if (!(s->on_list = (uint8_t *)tg__alloc_zero(s, 2u * (size_t)c->max_tokens))) return TG_ENOMEM;
#endif
    if (!(s->ops_raw = tg__alloc_zero(s, sizeof(tg__opent) * c->max_ops + TG__CACHE_LINE))) return TG_ENOMEM;
    s->ops = (tg__opent *)tg__align_line(s->ops_raw);
    for (uint32_t i = 0; i < c->max_ops; i++) pthread_mutex_init(&s->ops[i].lock, NULL);
    return tg__chunk_ensure(s, 0);
}

/* Worker i, to be pinned to `cpu` (-1: none), in s->workers[i]. */
static int tg__worker_new(tg_scheduler *s, unsigned i, int cpu)
{
    const tg_config *c = &s->cfg;
    void *wraw = tg__alloc(s, sizeof(tg__worker) + TG__CACHE_LINE);
    if (!wraw) return TG_ENOMEM;
    tg__worker *w = (tg__worker *)tg__align_line(wraw);
    memset(w, 0, sizeof *w);
    w->raw = wraw;
    w->sched = s;
    w->index = i;
    w->rng = 2654435761u * (i + 1);
    w->run_avg_ns = TG__RECRUIT_NS;  /* slow until shown otherwise */
    w->cpu = cpu;
    s->workers[i] = w;
    if (tg__mailbox_init(s, &w->mailbox, c->mailbox_capacity) != TG_OK) return TG_ENOMEM;
    if (tg__mailbox_init(s, &w->pinned, c->mailbox_capacity) != TG_OK) return TG_ENOMEM;
    w->opc = (tg__opcount *)tg__alloc_zero(s, sizeof(tg__opcount) * c->max_ops);
    w->oph = (tg__ophist *)tg__alloc_zero(s, sizeof(tg__ophist) * c->max_ops);
    return w->opc && w->oph ? TG_OK : TG_ENOMEM;
}

/* Starts a thread per core, each owning its core; on a failure joins
   those started. */
static int tg__workers_start(tg_scheduler *s)
{
    int rc = TG_OK;
    pthread_mutex_lock(&s->pool_lock);
    for (unsigned i = 0; i < s->nworkers && rc == TG_OK; i++) {
        tg__thread *t = &s->threads[i];
        t->core = t->home = s->workers[i];
        s->workers[i]->owner = t;
        rc = tg__thread_start(s, t);
        if (rc == TG_OK) s->threads_alive = i + 1;
    }
    pthread_mutex_unlock(&s->pool_lock);
    if (rc != TG_OK) {
        s->accepting = 0;
        tg__workers_join(s);
    }
    return rc;
}

TG_API int tg_create(const tg_config *cfg, tg_scheduler **out)
{
    if (!out) return TG_EINVAL;
    *out = NULL;
    tg_config c;
    int cpus[TG_MAX_WORKERS * 4];
    int rc = tg__config_resolve(cfg, &c);
    if (rc != TG_OK) return rc;
    pthread_once(&tg__tsc_once, tg__tsc_calibrate);
    pthread_once(&tg__atfork_once, tg__atfork_register);
    tg_scheduler *s = tg__scheduler_new(&c);
    if (!s) return TG_ENOMEM;

    unsigned ncpu = tg__affinity_cpus(cpus, sizeof cpus / sizeof cpus[0]);
    if (ncpu > TG_MAX_WORKERS) ncpu = TG_MAX_WORKERS;
    s->nworkers = c.workers ? c.workers : (ncpu ? ncpu : 1);
    s->prefetchw = tg__cpu_prefetchw;
    rc = tg__scheduler_tables(s);
    for (unsigned i = 0; i < s->nworkers && rc == TG_OK; i++)
        rc = tg__worker_new(s, i, (c.no_pin || ncpu == 0) ? -1 : cpus[i % ncpu]);
    if (rc == TG_OK) {
        s->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (s->event_fd < 0) rc = TG_ESYSTEM;
    }
    if (rc == TG_OK) {
        s->accepting = 1;
        rc = tg__workers_start(s);
    }
    if (rc != TG_OK) {
        tg__scheduler_free(s);
        return rc;
    }
    *out = s;
    return TG_OK;
}

TG_API unsigned tg_worker_count(const tg_scheduler *s)
{
    return s ? s->nworkers : 0;
}

/* At a shutdown's deadline: every admitted or running token ends KILLED for
   its waiters (from: TG__FROM_VISIBLE); at a cancelling shutdown's start,
   every token not started (TG__FROM_QUEUED), at once, even while every
   worker is asleep in a task's wait. Queued ones are dropped when popped;
   running ones keep their slot until their function returns, and their
   result is discarded. */
static void tg__sweep_kill(tg_scheduler *s, uint32_t from)
{
    uint32_t fresh = TG__LOAD_ACQUIRE(&s->fresh);
    if (fresh > s->slot_capacity) fresh = s->slot_capacity;
    for (uint32_t i = 0; i < fresh; i++) {
        if (!TG__LOAD_ACQUIRE(&s->chunks[i >> TG__CHUNK_SHIFT])) continue;
        tg__slot *sl = tg__slot_at(s, i);
        uint32_t word = TG__WORD(TG__LOAD_ACQUIRE(&sl->gw));
        /* held by a queue, a list or a run: ended here unless it is being
           set up (CREATED) or moved by its submitter (WAITING) */
        if (!(word & TG__W_HELD)) continue;
        (void)tg__token_end(s, NULL, i, sl, 0, from, TG_KILLED, 0);
    }
}

/* Every run queue is empty: no entry, even one of an ended token, holds
   a slot. */
static int tg__queues_empty(tg_scheduler *s)
{
    for (unsigned i = 0; i < s->nworkers; i++) {
        tg__worker *w = s->workers[i];
        if (tg__deque_depth(&w->deque) || tg__mailbox_depth(&w->mailbox) || tg__mailbox_depth(&w->pinned))
            return 0;
    }
    return 1;
}

/* No function runs and no token is live (a function may outlive its
   token: a deadline ends a running token), nor is one half-way through
   its end. The functions first: one that returns after submitting a
   child has counted the child by then. */
static int tg__quiet(tg_scheduler *s)
{
    for (unsigned i = 0; i < s->nworkers; i++)
        if (TG__LOAD_ACQUIRE(&s->workers[i]->busy)) return 0;   /* pairs with tg__busy_end */
    if (TG__LOAD_ACQUIRE(&s->busy_other)) return 0;
    return tg__idle_ready(s);
}

/* The shutdown's first step, once (under shutdown_lock): no outside
   submission from here; blocked submitters back out; pauses end. */
static void tg__shutdown_begin(tg_scheduler *s)
{
    TG__STORE_SEQ_CST(&s->accepting, 0u);
    /* full fence: our store of accepting before our reads of the counters;
       pairs with tg_submit's seq_cst count and re-check of accepting */
    TG__FENCE_SEQ_CST();
    tg__event_wake_all(&s->slot_event);
    tg__event_wake_all(&s->space_event);
    /* pauses end with the shutdown: held tokens go back to the queues */
    tg__unpause(s);
    for (uint32_t i = 0, n = tg__op_count(s); i < n; i++) tg__op_resume_one(s, i);
}

/* Waits for quiet (no function runs, no token is live) until `deadline`;
   past it, no token starts and the sweep ends the rest: TG_ETIMEDOUT. */
static int tg__shutdown_wait(tg_scheduler *s, int64_t deadline)
{
    int64_t pause_ns = 20000;
    while (!tg__quiet(s)) {
        if (deadline >= 0 && tg__now_ns() >= deadline) {
            /* from here no token starts and no task's submission is taken;
               the sweep ends the rest (again, for submissions that were
               between their check and their publication) */
            TG__STORE_SEQ_CST(&s->stopping, 1u);
            tg__wake_all_workers(s);
            int64_t settle_until = tg__now_ns() + 100000000;
            do {
                tg__sweep_kill(s, TG__FROM_VISIBLE);
                if (tg__idle_ready(s)) break;
                tg__sleep_ns(50000);
            } while (tg__now_ns() < settle_until);
            return TG_ETIMEDOUT;
        }
        tg__sleep_ns(pause_ns);
        if (pause_ns < 1000000) pause_ns *= 2;
    }
    return TG_OK;
}

TG_API int tg_shutdown(tg_scheduler *s, int mode, int64_t timeout_ns)
{
    if (!s || (mode != TG_DRAIN && mode != TG_CANCEL)) return TG_EINVAL;
    if (tg__fork_check(s) != TG_OK) return TG_EFORKED;
    if (tg__current_thread(s)) return TG_EDEADLK;
    int64_t deadline = tg__deadline_after(timeout_ns);
    /* the lock covers the one-time steps only: calls at once each wait
       with their own timeout (a TG_CANCEL among them cancels) */
    pthread_mutex_lock(&s->shutdown_lock);
    int done = s->shut_done;
    if (!done) {
        if (mode == TG_CANCEL) TG__STORE_SEQ_CST(&s->cancelling, 1u);
        if (!s->shut_begun) {
            s->shut_begun = 1;
            tg__shutdown_begin(s);
        }
    }
    pthread_mutex_unlock(&s->shutdown_lock);
    if (done) return TG_OK;
    if (mode == TG_CANCEL) tg__sweep_kill(s, TG__FROM_QUEUED);
    int rc = tg__shutdown_wait(s, deadline);
    pthread_mutex_lock(&s->shutdown_lock);
    TG__STORE_SEQ_CST(&s->stopping, 1u);
    tg__wake_all_workers(s);
    s->shut_done = 1;
    pthread_mutex_unlock(&s->shutdown_lock);
    /* tokens ended while queued (the sweeps) keep their slots until their
       entries are popped: the workers drop them now (bounded: 100 ms) */
    int64_t until = tg__now_ns() + 100000000;
    while (!tg__queues_empty(s) && tg__now_ns() < until) {
        tg__wake_all_workers(s);
        tg__sleep_ns(50000);
    }
    return rc;
}

TG_API void tg_destroy(tg_scheduler *s)
{
    if (!s) return;
    /* a child of fork(): the workers are not there to join, and the memory
       is the child's copy of the parent's; it is left alone */
    if (tg__fork_check(s) != TG_OK) return;
    if (tg__current_thread(s)) {
        tg__log(s, TG_LOG_ERROR, "tg_destroy called from inside a task; ignored");
        return;
    }
    (void)tg_shutdown(s, TG_CANCEL, -1);
    tg__workers_join(s);
    tg__scheduler_free(s);
}

/* Private macros end with the implementation. */
#undef TG__LOAD_RELAXED
#undef TG__LOAD_ACQUIRE
#undef TG__LOAD_SEQ_CST
#undef TG__STORE_RELAXED
#undef TG__STORE_RELEASE
#undef TG__STORE_SEQ_CST
#undef TG__EXCHANGE
#undef TG__FETCH_ADD
#undef TG__FETCH_ADD_SEQ_CST
#undef TG__FETCH_SUB_SEQ_CST
#undef TG__FETCH_OR
#undef TG__FETCH_AND
#undef TG__FETCH_ADD_RELAXED
#undef TG__FETCH_SUB_RELAXED
#undef TG__FETCH_SUB_RELEASE
#undef TG__FETCH_SUB
#undef TG__CAS
#undef TG__FENCE_SEQ_CST
#undef TG__THREAD_LOCAL
#undef TG__CACHE_LINE
#undef TG__ALIGNED_LINE
#undef TG__LIKELY
#undef TG__UNLIKELY
#undef TG__HOT_INLINE
#undef TG__UNUSED
#undef TG__CPU_MASK_WORDS
#undef TG__ERROR_CASE
#undef TG__STATE_MASK
#undef TG__SLOT_STORE
#undef TG__SLOT_LOAD
#undef TG__STAT_STORE
#undef TG__STAT_LOAD
#undef TG__SPIN_SOLO_NS
#undef TG__STALL_NS
#undef TG__NAP_MIN_NS
#undef TG__NAP_MAX_NS
#undef TG__BLOCKED_ASLEEP
#undef TG__BLOCKED_SECTION
#undef TG__ROOM_KEEP_NS
#undef TG__TASK_SPIN_NS
#undef TG__TIERS
#undef TG__CONFIG_FIELD
#undef TG__W_WAITER
#undef TG__W_ANY
#undef TG__W_TAKEN
#undef TG__W_LISTED
#undef TG__W_SUCC
#undef TG__W_DEPS
#undef TG__W_DEPFAIL
#undef TG__W_GROUP
#undef TG__W_DOMAIN
#undef TG__JSON_SCOPES
#undef TG__GROUP_WAITER
#undef TG__GROUP_COUNT
#undef TG__W_RELEASED
#undef TG__W_HELD
#undef TG__W_KILL
#undef TG__W_NOTIFY
#undef TG__W_STICKY
#undef TG__W_NOTIFY_OP
#undef TG__W_LIMITED
#undef TG__W_DEADLINE
#undef TG__W_DEDUPE
#undef TG__W_ENDING
#undef TG__W_STAMPING
#undef TG__W_RUNNING
#undef TG__GEN
#undef TG__WORD
#undef TG__STATE
#undef TG__SETTLED
#undef TG__FROM
#undef TG__FROM_UNSTARTED
#undef TG__FROM_LIVE
#undef TG__FROM_QUEUED
#undef TG__FROM_VISIBLE
#undef TG__INDEX_BITS
#undef TG__INDEX_MASK
#undef TG__TEXT_HEADROOM
#undef TG__DEDUPE_STRIPES
#undef TG__DEP_BUCKETS
#undef TG__DEP_STRIPES
#undef TG__STICKY_ONE
#undef TG__STICKY_CORE
#undef TG__STICKY_COUNT
#undef TG__STICKY_TAG_SHIFT
#undef TG__MAX_CALLS
#undef TG__DOMAIN_PENDING
#undef TG__COUNT_OP
#undef TG__HIST_BUCKETS
#ifdef TOKENGATE_MONITOR
#undef TG__HTTP_HEAD_MAX
#undef TG__HTTP_HEADERS_MAX
#undef TG__WS_PAYLOAD_MAX
#undef TG__MON_IN_MAX
#undef TG__MON_OUT_MAX
#undef TG__MON_LINGER_NS
#undef TG__MON_FD_BACKOFF_NS
#endif
#undef TG__WAKE_FLAGS
#undef TG__IS_TERMINAL
#undef TG__FREEABLE
#undef TG__INLINE_ARGS
#undef TG__CHUNK_SHIFT
#undef TG__CHUNK_SLOTS
#undef TG__CACHE_SLOTS
#undef TG__FREE_RING_MAX
#undef TG__FREE_AHEAD
#undef TG__MAILBOX_AHEAD
#undef TG__RECRUIT_NS
#undef TG__TOKEN_COST_NS
#undef TG__DEQUE_CAPACITY
#undef TG__NO_INDEX
#undef TG__PAIR
#undef TG__ENTRY
#undef TG__ENTRY_INDEX
#undef TG__ENTRY_PAIR
#undef TG__NO_ENTRY
#undef TG__WAIT_FIRST
#undef TG__ARGS_RETAIN_LIMIT
#undef TG__COUNT
#undef TG__IDLE_SPIN_NS
#undef TG__WAIT_SPIN_NS
#undef TG__WORKER_STACK
#undef TG__TSAN

#endif /* TOKENGATE_IMPLEMENTATION_ONCE */
#endif /* TOKENGATE_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 The TokenGate authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
*/
