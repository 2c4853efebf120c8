"""The `needs` graph: cycles, everything upstream of a job, and a run order.

All three are linear in jobs plus edges. Upstream sets are Python ints used as
bit sets (bit i = the i-th job in document order), so "is X upstream of Y" for
a 2,000-job spec costs one shift, and no set of names is built unless asked.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class NeedsGraph:
    """Jobs by document index, each with the indexes of the jobs it needs."""

    names: tuple[str, ...]
    needs: tuple[tuple[int, ...], ...]

    def analyse(self) -> GraphFacts:
        """Cycles and upstream bit sets, by Tarjan's strongly connected components."""
        n = len(self.names)
        needs = self.needs
        index_of = [-1] * n
        low = [0] * n
        on_stack = [False] * n
        stack: list[int] = []
        counter = 0
        components: list[list[int]] = []
        for root in range(n):
            if index_of[root] != -1:
                continue
            work: list[tuple[int, int]] = [(root, 0)]
            index_of[root] = low[root] = counter
            counter += 1
            stack.append(root)
            on_stack[root] = True
            while work:
                node, edge = work[-1]
                targets = needs[node]
                if edge < len(targets):
                    work[-1] = (node, edge + 1)
                    target = targets[edge]
                    if index_of[target] == -1:
                        index_of[target] = low[target] = counter
                        counter += 1
                        stack.append(target)
                        on_stack[target] = True
                        work.append((target, 0))
                    elif on_stack[target] and index_of[target] < low[node]:
                        low[node] = index_of[target]
                    continue
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[node] < low[parent]:
                        low[parent] = low[node]
                if low[node] == index_of[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack[member] = False
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
        # Tarjan emits a component only after every component it reaches, i.e.
        # after everything upstream of it: one pass fills the upstream sets.
        upstream = [0] * n
        cycles: list[tuple[int, ...]] = []
        for component in components:
            members = 0
            for member in component:
                members |= 1 << member
            reach = 0
            for member in component:
                for target in needs[member]:
                    reach |= (1 << target) | upstream[target]
            if len(component) > 1:
                reach |= members
                cycles.append(self._cycle_in(component))
            for member in component:
                upstream[member] = reach
        cycles.sort()
        return GraphFacts(tuple(upstream), tuple(cycles))

    def _cycle_in(self, component: list[int]) -> tuple[int, ...]:
        """One cycle through the component's first job (in document order)."""
        inside = set(component)
        start = min(component)
        came_from: dict[int, int] = {}
        queue = deque([start])
        while queue:
            node = queue.popleft()
            for target in self.needs[node]:
                if target not in inside:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    path.reverse()
                    return tuple(path)
                if target not in came_from:
                    came_from[target] = node
                    queue.append(target)
        return (start,)

    def run_order(self) -> tuple[int, ...]:
        """Topological order; among jobs that are ready, document order first.

        Only meaningful for an acyclic graph (jobs in a cycle are left out).
        """
        n = len(self.names)
        waiting = [len(set(targets)) for targets in self.needs]
        dependents: list[list[int]] = [[] for _ in range(n)]
        for node, targets in enumerate(self.needs):
            for target in set(targets):
                dependents[target].append(node)
        ready = [node for node in range(n) if waiting[node] == 0]
        heapq.heapify(ready)
        order = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for dependent in dependents[node]:
                waiting[dependent] -= 1
                if waiting[dependent] == 0:
                    heapq.heappush(ready, dependent)
        return tuple(order)


@dataclass(frozen=True)
class GraphFacts:
    """What :meth:`NeedsGraph.analyse` found."""

    upstream: tuple[int, ...]
    """Bit set of every job upstream of each job (its transitive needs)."""
    cycles: tuple[tuple[int, ...], ...]
    """One cycle per group of jobs that need each other, as job indexes in order."""


def names_in(mask: int, names: Sequence[str]) -> frozenset[str]:
    """The job names whose bits are set in ``mask``."""
    found = []
    index = 0
    while mask:
        low = mask & -mask
        index = low.bit_length() - 1
        found.append(names[index])
        mask ^= low
    return frozenset(found)
