"""Reports: funnel, sources, reps, speed to lead, aging and campaigns over a roll-up of the
timeline, the dashboard's links and charts, hot-lead alerts and the weekly digest."""
