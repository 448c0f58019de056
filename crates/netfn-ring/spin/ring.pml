/*
 * The netfn-ring Master/Worker protocol as a Promela model, checked by
 * spin (scripts/spin.sh; CI runs it). It complements the loom tests
 * (crates/netfn-ring/tests/loom.rs), which run the real code under the C11
 * memory model but only up to a bounded number of preemptions: here every
 * interleaving is explored, without bound, on an abstraction of the code
 * (sequentially consistent shared variables: the Acquire/Release pairs are
 * loom's to check), and liveness is checked as an LTL property under weak
 * fairness, which loom cannot do.
 *
 * What is modelled, statement for statement with the Rust:
 *  - Master (src/master.rs), Algorithm 1 rounds: push while there is room
 *    (at most PER_ROUND), M.prodIndex published and the wake rule checked
 *    once per burst (Master::stage + publish), poll (read W.prodIndex once, consume up to it,
 *    each primary slot followed by its aux run; aux_prod read once per
 *    poll; aux_cons published at the end), check_for_old_data (starvation
 *    timeout: the oldest token's age in rounds, reset when a token enters
 *    an empty ring or tokens come back).
 *  - Worker in deferred mode behind WorkerPort (src/port.rs, src/worker.rs),
 *    what `netfn worker` runs: recv drains the doorbell when marked waiting
 *    (every DRAIN looks, and when tokens arrive), takes up to TAKE tokens,
 *    marks itself WAIT_FOR_SIGNAL after IDLE_AFTER empty looks and looks
 *    once more; send completes every held token in order (drop flag, generated
 *    tokens in the aux ring with `next` flags, `aux` on the primary slot
 *    only when at least one was written, a full aux ring loses the token and
 *    counts it), publishing every PUBLISH tokens and at the end; a waiting
 *    Worker whose round took nothing blocks on the doorbell (the runtime's poll() on the
 *    eventfd) -- without the runtime's poll timeout, so progress must come
 *    from the protocol's own wake-ups.
 *  - The doorbell is an eventfd: a ring sets it, a read clears it.
 *
 * Properties:
 *  - P1/P2 index order: M.consIndex <= W.prodIndex <= M.prodIndex
 *    (circularly) at every poll; the Worker never passes M.prodIndex.
 *  - P3 bounded pending: at most N - 1 tokens in the ring.
 *  - no token lost, duplicated or reordered: the Master gets tokens back in
 *    push order, each with the verdict the Worker gave it, each followed by
 *    the tokens generated for it, in order; every generated token written
 *    is read once, and those written plus those counted lost are all the
 *    Worker generated.
 *  - no deadlock: spin reports any state where no process can move and the
 *    run is not over (invalid end state).
 *  - progress (P5/P6): <> all_back, the Master gets every token back, under weak
 *    fairness (`pan -a -f`): no lost wake-up can park the Worker for ever.
 */

#ifndef N
#define N 3            /* primary slots (one is kept empty) */
#endif
#ifndef A
#define A 2            /* aux slots */
#endif
#ifndef TOKENS
#define TOKENS 6       /* tokens the Master pushes in all */
#endif
#ifndef WAKE
#define WAKE 1         /* wake_threshold: ring when more than this wait */
#endif
#ifndef PUBLISH
#define PUBLISH 1      /* publish_every */
#endif
#ifndef TAKE
#define TAKE 2         /* tokens the WorkerPort takes per recv (batch size) */
#endif
#ifndef IDLE_AFTER
#define IDLE_AFTER 2   /* empty recvs before the WorkerPort asks for a signal */
#endif
#ifndef DRAIN
#define DRAIN 2        /* an idle WorkerPort drains its eventfd every DRAIN looks */
#endif
#ifndef PER_ROUND
#define PER_ROUND 2    /* tokens the Master pushes per round at most */
#endif
#ifndef STARVE
#define STARVE 2       /* starvation timeout, in Master rounds */
#endif

/* A Worker that took a wake-up is no longer waiting: it must mark itself
 * WAIT_FOR_SIGNAL again before it sleeps (-DOLD_WAKE: the code before that
 * fix, in which a spurious wake-up left the status SIGNED and the Worker
 * asleep with tokens waiting: spin finds the acceptance cycle). */
#ifdef OLD_WAKE
#define WOKE skip
#else
#define WOKE idle = 0
#endif

#define NEXT(i, n) (((i) + 1) % (n))
#define DIST(a, b, n) (((b) + (n) - (a)) % (n))

/* What the Worker does with token k (as mixed() in the loom tests): pass,
 * drop, pass + 1 generated, or replaced by 2 generated. */
#define DROPS(k) ((k) % 4 == 1 || (k) % 4 == 3)
#define GENS(k) ((k) % 4 == 0 -> 1 : ((k) % 4 == 3 -> 2 : 0))

/* The control block. */
byte m_prod, w_prod, aux_prod, aux_cons;
bit status;            /* 0 = WAIT_FOR_SIGNAL, 1 = SIGNED */
bit bell;              /* the eventfd */
bit shutdown;

/* Slot headers: the token (its sequence number), flags. */
byte seq[N];
bit dropped[N];
bit aux[N];
byte aseq[A];          /* generated token: k * 4 + j (j-th for token k) */
bit anext[A];

/* Ghost state for the properties. */
byte generated;        /* generated tokens written to the aux ring */
byte lost;             /* generated tokens lost to a full aux ring */
byte got;              /* generated tokens the Master read */
bit all_back;

#ifdef LIVENESS
ltl progress { <> all_back }
#endif

inline wake() {
    if
    :: status == 0 -> status = 1; bell = 1
    :: else -> skip
    fi
}

active proctype Master() {
    byte prod = 0, cons = 0, acons = 0, pushed = 0, round_pushed;
    byte w, ap, k, gj, age = 0, expect = 0;
    bit have_ap, more;

    do
    :: pushed == TOKENS && cons == prod -> break
    :: else ->
        /* push (Algorithm 2) */
        round_pushed = 0;
        do
        :: round_pushed < PER_ROUND && pushed < TOKENS && NEXT(prod, N) != cons ->
            if
            :: prod == cons -> age = 0
            :: else -> skip
            fi;
            seq[prod] = pushed;
            dropped[prod] = 0;
            aux[prod] = 0;
            prod = NEXT(prod, N);
            pushed++;
            round_pushed++;
            assert(DIST(cons, prod, N) <= N - 1)
        :: else -> break
        od;
        /* the burst published at once (Master::stage, then publish) */
        if
        :: round_pushed > 0 ->
            m_prod = prod;
            if
            :: DIST(cons, prod, N) > WAKE -> wake()
            :: else -> skip
            fi
        :: else -> skip
        fi;
        /* poll (Algorithms 4 and 7) */
        if
        :: prod != cons ->
            w = w_prod;
            assert(DIST(cons, w, N) <= DIST(cons, prod, N));
            if
            :: w != cons -> age = 0
            :: else -> skip
            fi;
            have_ap = 0;
            do
            :: cons != w ->
                k = seq[cons];
                assert(k == expect);
                expect++;
                assert(dropped[cons] == DROPS(k));
                if
                :: aux[cons] ->
                    if
                    :: !have_ap -> ap = aux_prod; have_ap = 1
                    :: else -> skip
                    fi;
                    gj = 0;
                    do
                    :: assert(acons != ap);
                       /* a generated token of k, after the ones before it */
                       assert(aseq[acons] / 4 == k && aseq[acons] % 4 >= gj
                              && aseq[acons] % 4 < GENS(k));
                       gj = aseq[acons] % 4 + 1;
                       more = anext[acons];
                       acons = NEXT(acons, A);
                       got++;
                       if
                       :: more -> skip
                       :: else -> break
                       fi
                    od
                :: else -> skip
                fi;
                cons = NEXT(cons, N)
            :: else -> break
            od;
            aux_cons = acons
        :: else -> skip
        fi;
        /* check_for_old_data (Algorithm 3) */
        if
        :: cons != prod && age < STARVE -> age++
        :: cons != prod && age >= STARVE -> wake()
        :: else -> skip
        fi
    od;
    assert(got == generated);
    k = 0;
    gj = 0;
    do
    :: k < TOKENS -> gj = gj + GENS(k); k++
    :: else -> break
    od;
    assert(generated + lost == gj);
    all_back = 1;
    shutdown = 1;
    status = 1;
    bell = 1
}

active proctype Worker() {
    byte cons = 0, taken = 0, mp = 0, ap = 0, ac = 0, published = 0;
    byte n, k, j, last, nrun, looks = 0;
    bit idle = 0;

    do
    :: /* recv: the runtime's round starts with the ring port */
        /* an idle Worker drains its eventfd every DRAIN looks */
        if
        :: idle && looks % DRAIN == 0 ->
            if
            :: bell == 1 -> bell = 0; WOKE
            :: else -> skip
            fi
        :: else -> skip
        fi;
        n = 0;
        do                             /* take() */
        :: n < TAKE ->
            if
            :: taken == mp ->
                mp = m_prod;
                assert(DIST(cons, mp, N) <= N - 1);
                if
                :: taken == mp -> break
                :: else -> skip
                fi
            :: else -> skip
            fi;
            taken = NEXT(taken, N);
            n++
        :: else -> break
        od;
        if
        :: n == 0 -> looks++           /* wrapping, as the u32 */
        :: else -> skip
        fi;
        if
        :: n == 0 && !idle && looks >= IDLE_AFTER ->
            status = 0;                /* idle(), then one more look */
            idle = 1;
            do
            :: n < TAKE ->
                if
                :: taken == mp ->
                    mp = m_prod;
                    if
                    :: taken == mp -> break
                    :: else -> skip
                    fi
                :: else -> skip
                fi;
                taken = NEXT(taken, N);
                n++
            :: else -> break
            od
        :: else -> skip
        fi;
        if
        :: n > 0 ->
            if                         /* drain what announced them */
            :: idle && bell == 1 -> bell = 0
            :: else -> skip
            fi;
            idle = 0;
            looks = 0
        :: else ->
            if
            :: shutdown && taken == cons -> break
            :: else -> skip
            fi
        fi;
        /* send: complete every held token, in order */
        do
        :: cons != taken ->
            k = seq[cons];
            nrun = 0;
            j = 0;
            do
            :: j < GENS(k) ->
                if
                :: NEXT(ap, A) == ac -> ac = aux_cons
                :: else -> skip
                fi;
                if
                :: NEXT(ap, A) == ac -> lost++
                :: else ->
                    aseq[ap] = k * 4 + j;
                    anext[ap] = 1;
                    last = ap;
                    ap = NEXT(ap, A);
                    nrun++;
                    generated++
                fi;
                j++
            :: else -> break
            od;
            if
            :: nrun > 0 -> anext[last] = 0; aux[cons] = 1
            :: else -> skip
            fi;
            dropped[cons] = DROPS(k);
            cons = NEXT(cons, N);
            if
            :: DIST(published, cons, N) >= PUBLISH ->
                aux_prod = ap; w_prod = cons; published = cons
            :: else -> skip
            fi
        :: else -> break
        od;
        if                             /* hand_back() */
        :: published != cons -> aux_prod = ap; w_prod = cons; published = cons
        :: else -> skip
        fi;
        /* a round that took nothing: the runtime blocks on the eventfd */
        if
        :: n == 0 && idle -> bell == 1
        :: else -> skip
        fi
    od
}
