/*{
    "ISFVSN": "2",
    "DESCRIPTION": "Halftone dots on a rotated grid: each dot's size follows the brightness under it, lit dots on a dark ground (or ink on paper when inverted).",
    "CREDIT": "live project",
    "CATEGORIES": ["Filter", "Stylize"],
    "INPUTS": [
        {"NAME": "inputImage", "TYPE": "image", "LABEL": "Input"},
        {"NAME": "dotSpacing", "TYPE": "float", "LABEL": "Dot spacing (pixels)", "MIN": 3.0, "MAX": 48.0, "DEFAULT": 10.0},
        {"NAME": "gridAngle", "TYPE": "float", "LABEL": "Grid angle (radians)", "MIN": 0.0, "MAX": 1.5708, "DEFAULT": 0.4},
        {"NAME": "spinSpeed", "TYPE": "float", "LABEL": "Grid spin (radians per second)", "MIN": -1.0, "MAX": 1.0, "DEFAULT": 0.0},
        {"NAME": "dotImageColor", "TYPE": "float", "LABEL": "Dot takes image colour", "MIN": 0.0, "MAX": 1.0, "DEFAULT": 1.0},
        {"NAME": "dotColor", "TYPE": "color", "LABEL": "Dot colour", "DEFAULT": [1.0, 1.0, 1.0, 1.0]},
        {"NAME": "backgroundColor", "TYPE": "color", "LABEL": "Background colour", "DEFAULT": [0.0, 0.0, 0.02, 1.0]},
        {"NAME": "invert", "TYPE": "bool", "LABEL": "Ink on paper (dark makes big dots)", "DEFAULT": false}
    ]
}*/

// Cost: one texture fetch per pixel (the picture is read once, at the dot's centre).

void main() {
    float angle = gridAngle + TIME * spinSpeed;
    mat2 rotate = mat2(cos(angle), sin(angle), -sin(angle), cos(angle));
    vec2 pixel = isf_FragNormCoord * RENDERSIZE;
    vec2 grid = rotate * pixel / dotSpacing;
    vec2 cell = floor(grid) + 0.5;
    vec2 centre = transpose(rotate) * (cell * dotSpacing) / RENDERSIZE;
    vec4 source = IMG_NORM_PIXEL(inputImage, clamp(centre, 0.0, 1.0));
    float level = dot(source.rgb, vec3(0.2126, 0.7152, 0.0722));
    if (invert) level = 1.0 - level;
    // area follows the level: radius grows with its square root, up to touching neighbours
    float radius = sqrt(clamp(level, 0.0, 1.0)) * 0.7071;
    float distancePixels = (length(grid - cell) - radius) * dotSpacing;
    float dot_ = 1.0 - smoothstep(-0.75, 0.75, distancePixels);
    vec3 ink = mix(dotColor.rgb, source.rgb / max(level, 0.25), dotImageColor);
    if (invert) ink = mix(dotColor.rgb, source.rgb, dotImageColor);
    gl_FragColor = vec4(mix(backgroundColor.rgb, ink, dot_), 1.0);
}
