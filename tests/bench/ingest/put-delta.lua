-- put-delta.lua - wrk script: PUT 1 KB delta reports as Cisco MPP phones do, one of 1000
-- phones per request (path $MA-delta.xml, default Cisco User-Agent with the same MAC).
local models = {"CP-8841-3PCC", "CP-8845-3PCC", "CP-7841-3PCC", "CP-6851-3PCC"}
local n = 0
local pad = string.rep("x", 1024)
local head = '<?xml version="1.0" encoding="UTF-8"?>\n<flat-profile>\n' ..
    '<Display_Name_1_ ua="na">Alice</Display_Name_1_>\n<Pad ua="na">'
local tail = '</Pad>\n</flat-profile>\n'
local body = head .. string.sub(pad, 1, 1024 - #head - #tail) .. tail

request = function()
    n = n + 1
    local mac = string.format("00562b%06x", n % 1000)
    local model = models[(n % #models) + 1]
    local headers = {
        ["User-Agent"] = "Cisco-" .. model .. "/12.0.1 (" .. mac .. ")",
        ["Content-Type"] = "application/x-www-form-urlencoded",
    }
    return wrk.format("PUT", "/r/" .. mac .. "-delta.xml", headers, body)
end
