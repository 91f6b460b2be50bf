"""Funnels: how many persons go through a sequence of steps, and where they drop off.

Semantics (the compiler, the reference in tests/funnels/reference.py and docs/funnels.md
state the same rules):

- **Persons.** Events are grouped by ``person_id``. Events of one person at the same
  millisecond form one *moment*; a moment matches every step (and exclusion) one of its
  events matches.
- **Steps.** A step matches an event whose name is one of the step's ``event`` names and
  that passes the step's ``properties`` filter and the query's ``filters`` (the filter shape
  and comparison rules of ``analytics.query.compiler.filters``).
- **Entry.** Every moment matching the first step (``unordered``: any step) at a time in
  ``[from, to)`` starts an attempt; a person re-enters at each such moment. Nothing before
  ``from`` counts. ``from``/``to`` are read in the project's time zone.
- **Window.** A later step counts when it happens at most ``window_seconds`` after the
  attempt's entry: the window end is inclusive to the millisecond (entry + window counts,
  one millisecond later does not). Later steps may fall after ``to``: events up to ``to +
  window`` are read.
- **ordered**: step k+1 is the earliest moment strictly after step k's moment (a later step
  at the same millisecond does not count) that matches step k+1, inside the window; other
  events may come between.
- **strict**: as ordered, but step k+1 must be the person's very next moment after step k
  (any event of the person at a moment in between, of any name, stops the attempt; events at
  the same millisecond as a step are not "in between").
- **unordered**: the attempt from an entry moment has done every step that some moment in
  ``[entry, entry + window]`` matches, in any order; "step N" counts persons who did at
  least N of the steps, and the times of an attempt are the first moments of its steps, sorted.
  One event may do several steps when it matches several. Exclusions are refused.
- **Exclusions** (``{"event", "properties"?, "from_step", "to_step"}``, 0-based steps,
  ``to_step`` default the last): an attempt that reached ``from_step`` is void when an
  exclusion event happens strictly after its ``from_step`` moment and strictly before its
  ``to_step`` moment (if it never reached ``to_step``: up to the window end, inclusive).
- **Counting.** Each person counts once: by the attempt that reaches the furthest step
  among the attempts that are not void; ties go to the earliest entry. A person whose every
  attempt is void is not counted at all. ``count`` of step k is the persons whose counted
  attempt reached step k; ``dropped`` of step k reached step k - 1 but not k; the seconds to
  convert of step k are step k's moment minus step k - 1's over the persons who reached k.
- **Breakdown** by a person property (``"type": "person"``): the person's latest live
  properties, whatever the attempt. By an event property: ``first_touch`` takes the value on the counted attempt's
  entry event, ``last_touch`` on the furthest step it reached, ``step`` on step N's event
  (no value if the attempt did not reach step N). When several step events share a moment,
  the smallest value among them is taken. Not set and "" are one group (``null``); the top
  ``limit`` values by persons entering are kept, the rest is ``"$other"``.
- **Segment**: ``"segment": 12`` or ``{"type": "segment", "key": "id", "operator":
  "in"|"not_in", "value": 12}`` keeps only (or leaves out) the persons of segment 12.
- **Trend**: each person's counted attempt falls in the day/week (project zone) of its entry.

Paths are documented in ``analytics/funnels/paths.py``.
"""
