/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Radial dissolve: the new picture grows out from a point as a ragged, flickering ring of noise that burns outward to the corners.",
    "CREDIT": "live project",
    "CATEGORIES": ["Transition"],
    "INPUTS": [
        {"NAME": "startImage", "TYPE": "image", "LABEL": "From"},
        {"NAME": "endImage", "TYPE": "image", "LABEL": "To"},
        {"NAME": "progress", "TYPE": "float", "LABEL": "Progress", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.0},
        {"NAME": "centre", "TYPE": "point2D", "LABEL": "Centre (0..1)", "MIN": [0.0, 0.0], "MAX": [1.0, 1.0], "DEFAULT": [0.5, 0.5]},
        {"NAME": "raggedness", "TYPE": "float", "LABEL": "Raggedness", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.4},
        {"NAME": "noiseScale", "TYPE": "float", "LABEL": "Noise scale (blobs across the height)", "MIN": 1.0, "MAX": 40.0, "DEFAULT": 8.0},
        {"NAME": "softness", "TYPE": "float", "LABEL": "Edge softness", "MIN": 0.005, "MAX": 0.3, "DEFAULT": 0.04},
        {"NAME": "burnColor", "TYPE": "color", "LABEL": "Burning edge colour", "DEFAULT": [1.0, 0.75, 0.3, 1.0]}
    ]
}*/

// Cost: two texture fetches per pixel; the noise is four integer hashes (value noise).

float hashCell(vec2 cell, float seed) {
    uvec3 v = uvec3(ivec3(ivec2(floor(cell)), int(seed)));
    uint h = v.x * 0x9E3779B1u + v.y * 0x85EBCA77u + v.z * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x27D4EB2Fu;
    h ^= h >> 13;
    return float(h & 0x00FFFFFFu) / 16777215.0;
}

float valueNoise(vec2 p, float seed) {
    vec2 cell = floor(p);
    vec2 f = fract(p);
    f = f * f * (3.0 - 2.0 * f);
    float top = mix(hashCell(cell, seed), hashCell(cell + vec2(1.0, 0.0), seed), f.x);
    float bottom = mix(hashCell(cell + vec2(0.0, 1.0), seed), hashCell(cell + vec2(1.0, 1.0), seed), f.x);
    return mix(top, bottom, f.y);
}

void main() {
    vec2 uv = isf_FragNormCoord;
    vec2 aspect = vec2(RENDERSIZE.x / RENDERSIZE.y, 1.0);
    // distance to the centre, 1 at the farthest corner
    vec2 farthest = max(centre, 1.0 - centre) * aspect;
    float radius = length((uv - centre) * aspect) / length(farthest);
    // the noise pattern shifts 12 times a second: the edge flickers like a flame
    float noise = valueNoise(uv * aspect * noiseScale + 50.0, floor(TIME * 12.0));
    float key = mix(radius, noise, raggedness);
    float edge = progress * (1.0 + softness);
    float reveal = 1.0 - smoothstep(edge - softness, edge, key);
    float burn = 4.0 * reveal * (1.0 - reveal);
    vec4 from = IMG_NORM_PIXEL(startImage, uv);
    vec4 to = IMG_NORM_PIXEL(endImage, uv);
    gl_FragColor = vec4(mix(from.rgb, to.rgb, reveal) + burnColor.rgb * burn, 1.0);
}
