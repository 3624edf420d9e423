-- The GraphQL baseline: the smallest query over the same endpoint ({ __typename }).
request = function()
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"},
                    '{"query": "{ __typename }"}')
end
