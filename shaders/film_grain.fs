/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Film grain: moving grain strongest in the midtones, a gentle brightness flicker and a vignette, to give a clean neural picture the texture of projected film.",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Film"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "grainAmount", "TYPE": "float", "LABEL": "Grain amount", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.25},
        {"NAME": "grainSize", "TYPE": "float", "LABEL": "Grain size (pixels)", "MIN": 1.0, "MAX": 6.0, "DEFAULT": 1.5},
        {"NAME": "colourGrain", "TYPE": "float", "LABEL": "Colour grain", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 0.3},
        {"NAME": "flicker", "TYPE": "float", "LABEL": "Flicker", "MIN": 0.0, "MAX": 0.3, "DEFAULT": 0.04},
        {"NAME": "vignette", "TYPE": "float", "LABEL": "Vignette", "MIN": 0.0, "MAX": 1.5, "DEFAULT": 0.5},
        {"NAME": "framesPerSecond", "TYPE": "float", "LABEL": "Grain frames per second", "MIN": 6.0, "MAX": 60.0, "DEFAULT": 24.0}
    ]
}*/

// Cost: one texture fetch per pixel. The grain is integer hashing, not a noise texture:
// three grain values (one per channel) of four hashes each, blended bilinearly so grain
// bigger than a pixel stays soft: about a dozen cheap integer hashes, no extra fetches.

float hashCell(vec2 cell, float seed) {
    uvec3 v = uvec3(ivec3(ivec2(floor(cell)), int(seed)));
    uint h = v.x * 0x9E3779B1u + v.y * 0x85EBCA77u + v.z * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x27D4EB2Fu;
    h ^= h >> 13;
    return float(h & 0x00FFFFFFu) / 16777215.0;
}

float grainAt(vec2 pixel, float seed) {
    vec2 cell = floor(pixel);
    vec2 f = fract(pixel);
    f = f * f * (3.0 - 2.0 * f);
    float top = mix(hashCell(cell, seed), hashCell(cell + vec2(1.0, 0.0), seed), f.x);
    float bottom = mix(hashCell(cell + vec2(0.0, 1.0), seed), hashCell(cell + vec2(1.0, 1.0), seed), f.x);
    return mix(top, bottom, f.y) - 0.5;
}

void main() {
    vec2 uv = isf_FragNormCoord;
    vec4 source = IMG_NORM_PIXEL(inputImage, uv);
    float frame = floor(TIME * framesPerSecond);
    vec2 pixel = uv * RENDERSIZE / grainSize;
    float mono = grainAt(pixel, frame);
    vec3 tinted = vec3(mono, grainAt(pixel + 17.0, frame), grainAt(pixel + 41.0, frame));
    vec3 grain = mix(vec3(mono), tinted, colourGrain);
    float grey = dot(source.rgb, vec3(0.2126, 0.7152, 0.0722));
    float midtones = 4.0 * grey * (1.0 - grey) + 0.2;  // film grain shows most in the greys
    vec3 colour = source.rgb + grain * grainAmount * midtones;
    colour *= 1.0 + (hashCell(vec2(frame, 3.0), 5.0) - 0.5) * 2.0 * flicker;
    vec2 fromCentre = (uv - 0.5) * vec2(RENDERSIZE.x / RENDERSIZE.y, 1.0);
    colour *= 1.0 - vignette * smoothstep(0.3, 1.0, length(fromCentre));
    gl_FragColor = vec4(colour, source.a);
}
