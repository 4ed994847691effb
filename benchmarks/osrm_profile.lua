-- OSRM profile of the road-engine benchmark (benchmarks/osrm.py): the engine's own edge times.
--
-- The benchmark writes one OSM way per directed engine edge: its two end nodes (node id =
-- engine node index + 1), oneway=yes, and `yrd:time_s`, the engine's travel time of the edge
-- (s, full precision).  This profile gives each way exactly that duration and weight, in the
-- driving direction only, and adds nothing else: no turn penalties (u-turns included), no
-- traffic-signal or barrier penalties, no turn restrictions, no speed from tags or lengths.
-- OSRM then stores, per segment, the duration rounded to 0.1 s (at least 0.1 s) and the
-- weight rounded to 10^-weight_precision s (at least one unit), so route weights carry the
-- engine's times to the millisecond and durations to OSRM's 0.1 s rounding.
--
-- OSRM profile API version 4 (docs/profiles.md of osrm-backend): setup, process_node,
-- process_way, process_turn.

api_version = 4

function setup()
  return {
    properties = {
      weight_name                   = 'time',   -- weights set per way below, not from durations
      weight_precision              = 3,        -- ms: segment weights are 22-bit, so ≤ 4194 s per edge
      u_turn_penalty                = 0,
      traffic_signal_penalty        = 0,
      use_turn_restrictions         = false,
      continue_straight_at_waypoint = false,
      process_call_tagless_node     = false,
      max_speed_for_map_matching    = 200 / 3.6,
    },
  }
end

function process_node(profile, node, result)
  -- no barriers, no traffic signals
end

function process_way(profile, way, result)
  local t = tonumber(way:get_value_by_key('yrd:time_s'))
  if t == nil or t < 0 then
    return
  end
  -- a zero time would make OSRM drop the way; it is stored as one unit (1 ms) anyway
  t = math.max(t, 1e-6)
  result.forward_mode = mode.driving
  result.backward_mode = mode.inaccessible
  result.duration = t
  result.weight = t
end

function process_turn(profile, turn)
  turn.duration = 0
  turn.weight = 0
end

return {
  setup = setup,
  process_way = process_way,
  process_node = process_node,
  process_turn = process_turn,
}
