// tbb.cpp - the METG graph on oneTBB's flow graph: one continue_node per
// task, one make_edge per dependency, in the default arena.
//
// A continue_node counts its predecessors when the edges are made, so the
// whole graph is built before it starts: then every step-0 node gets a
// try_put and wait_for_all waits for all.  The timed run covers building,
// running and destroying the graph (the other systems pay for creating and
// freeing their tasks inside the run as well).
#include "metg.h"

#include <deque>
#include <vector>
#include <tbb/flow_graph.h>

using node_t = tbb::flow::continue_node<tbb::flow::continue_msg>;

// Builds the nodes of step t's active points, and their edges from step
// t-1; row[t] is where step t's nodes start in nodes.
static void build_step(tbb::flow::graph &fg, std::deque<node_t> &nodes,
                       std::vector<size_t> &row, mg_graph *g, int t)
{
    row[t] = nodes.size();
    for (int i = 0; i < mg_active(g, t); i++)
        nodes.emplace_back(fg, [g, t, i](const tbb::flow::continue_msg &) {
            mg_run_task(g, t, i);
        });
    for (int i = 0; i < mg_active(g, t); i++) {
        int deps[MG_MAX_DEPS], n = mg_deps(g, t, i, deps);
        for (int k = 0; k < n; k++)
            tbb::flow::make_edge(nodes[row[t - 1] + deps[k]], nodes[row[t] + i]);
    }
}

static int run_tbb(void *, mg_graph *g)
{
    tbb::flow::graph fg;
    std::deque<node_t> nodes;   // a deque never moves its elements
    std::vector<size_t> row((size_t)g->steps);
    for (int t = 0; t < g->steps; t++) build_step(fg, nodes, row, g, t);
    // start the sources: every task without inputs (step 0, and every task
    // of trivial)
    for (int t = 0; t < g->steps; t++)
        for (int i = 0; i < mg_active(g, t); i++) {
            int deps[MG_MAX_DEPS];
            if (mg_deps(g, t, i, deps) == 0) nodes[row[t] + i].try_put(tbb::flow::continue_msg());
        }
    fg.wait_for_all();
    return 0;
}

int main(int argc, char **argv)
{
    mg_graph g = mg_parse(argc, argv, nullptr);
    int rc = mg_main_loop("tbb", &g, run_tbb, nullptr);
    mg_free(&g);
    return rc;
}
