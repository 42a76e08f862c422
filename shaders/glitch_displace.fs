/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Glitch displacement: random blocks of the picture jump sideways with their colour channels torn apart, re-rolled several times a second. A burst hit throws a storm of blocks that dies away.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Glitch"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "amount", "TYPE": "float", "LABEL": "Amount (share of blocks hit)", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.15, "IDENTITY": 0.0},
        {"NAME": "blockSize", "TYPE": "float", "LABEL": "Block height (fraction of height)", "MIN": 0.01, "MAX": 0.25, "DEFAULT": 0.05},
        {"NAME": "maxShift", "TYPE": "float", "LABEL": "Largest shift (fraction of width)", "MIN": 0.0, "MAX": 0.5, "DEFAULT": 0.12},
        {"NAME": "rerollRate", "TYPE": "float", "LABEL": "Re-rolls per second", "MIN": 0.5, "MAX": 30.0, "DEFAULT": 8.0},
        {"NAME": "burst", "TYPE": "event", "LABEL": "Burst"},
        {"NAME": "burstDecay", "TYPE": "float", "LABEL": "Burst length (seconds)", "MIN": 0.05, "MAX": 3.0, "DEFAULT": 0.5}
    ],
    "PASSES": [
        {"TARGET": "burstLevel", "PERSISTENT": true, "FLOAT": true, "WIDTH": 1, "HEIGHT": 1},
        {}
    ]
}*/

// Cost: pass 0 draws one pixel (the burst envelope, kept between frames in a 1x1 float
// target so a one-frame event lasts); pass 1 makes four fetches per pixel (the envelope and
// one per colour channel). The hash is integer arithmetic, no noise texture.

float hashCell(vec2 cell, float seed) {
    uvec3 v = uvec3(ivec3(ivec2(floor(cell)), int(seed)));
    uint h = v.x * 0x9E3779B1u + v.y * 0x85EBCA77u + v.z * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x27D4EB2Fu;
    h ^= h >> 13;
    return float(h & 0x00FFFFFFu) / 16777215.0;
}

void main() {
    // both passes read the envelope with this one fetch: pass 0 its last frame, pass 1 the
    // value pass 0 just wrote (one program runs both, and llvmpipe would pay for a fetch in
    // the branch not taken)
    float burstNow = IMG_PIXEL(burstLevel, vec2(0.5)).r;
    if (PASSINDEX == 0) {
        float level = burst ? 1.0 : burstNow * exp(-TIMEDELTA * 3.0 / burstDecay);
        gl_FragColor = vec4(level, 0.0, 0.0, 1.0);
        return;
    }
    vec2 uv = isf_FragNormCoord;
    float share = clamp(amount + burstNow, 0.0, 1.0);
    float seed = floor(TIME * rerollRate);
    // wide flat blocks, four times as wide as tall (in pixels), like a broken stream
    float aspect = RENDERSIZE.x / RENDERSIZE.y;
    vec2 cell = floor(uv / vec2(blockSize * 4.0 / aspect, blockSize));
    float hit = step(hashCell(cell, seed), share);
    float shift = (hashCell(cell, seed + 7.0) - 0.5) * 2.0 * maxShift * (1.0 + burstNow) * hit;
    float tear = (hashCell(cell, seed + 13.0) - 0.5) * 0.03 * hit;
    float row = uv.y;
    vec2 from = vec2(fract(uv.x + shift), row);
    vec4 colour;
    colour.r = IMG_NORM_PIXEL(inputImage, vec2(fract(from.x + tear), row)).r;
    colour.g = IMG_NORM_PIXEL(inputImage, from).g;
    colour.b = IMG_NORM_PIXEL(inputImage, vec2(fract(from.x - tear), row)).b;
    colour.a = 1.0;
    // now and then a hit block is inverted, the classic broken-decoder flash
    float invertBlock = hit * step(0.85, hashCell(cell, seed + 29.0));
    colour.rgb = mix(colour.rgb, 1.0 - colour.rgb, invertBlock);
    gl_FragColor = colour;
}
